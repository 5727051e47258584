"""The engine's attach stream of a container, read as the runner reads it: the output of a
container's whole life, kept up to a bound, or the agent's answer named by a nonce."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

HEADER = struct.Struct(">BxxxL")  # stream (1 stdout, 2 stderr), 3 bytes pad, length
STDOUT, STDERR = 1, 2
STDERR_KEPT_BYTES = 4096
LONGEST_LINE = 65536  # no line of the agent's answer is longer


class Frames:
    """The multiplexed frames of an attach stream, each (stream, payload), as they arrive,
    until the stream ends (`ended`) or the deadline passes."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.ended = False

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        pending = bytearray()
        while True:
            while len(pending) >= HEADER.size:
                stream, size = HEADER.unpack_from(pending)
                if len(pending) < HEADER.size + size:
                    break
                yield stream, bytes(pending[HEADER.size : HEADER.size + size])
                del pending[: HEADER.size + size]
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                return
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                return
            if not chunk:
                self.ended = True
                return
            pending += chunk


def read_streams(
    sock: socket.socket, deadline: float, stdout_limit: int
) -> tuple[bytes, bytes, bool]:
    """Reads the stream until it ends or the deadline passes. Keeps the first stdout_limit
    bytes of stdout and a little of stderr; the rest is read and dropped. Returns stdout,
    stderr, and whether the stream ended in time."""
    kept = {STDOUT: bytearray(), STDERR: bytearray()}
    limits = {STDOUT: stdout_limit, STDERR: STDERR_KEPT_BYTES}
    frames = Frames(sock, deadline)
    for stream, payload in frames:
        into = kept.get(stream)
        if into is not None and len(into) < limits[stream]:
            into += payload[: limits[stream] - len(into)]
    return bytes(kept[STDOUT]), bytes(kept[STDERR]), frames.ended


def read_answer(sock: socket.socket, nonce: bytes, deadline: float) -> bytes:
    """The agent's answer named by nonce on stdout: its line "<nonce> <size> <size>", then as
    many bytes as the sizes add up to. What came before the line is someone else's; empty when
    the stream ends, or the deadline passes, before the line; cut when they come before its
    end."""
    out = bytearray()
    want: int | None = None  # the answer's whole length, once its line is found
    for stream, payload in Frames(sock, deadline):
        if stream != STDOUT:
            continue
        out += payload
        if want is None:
            want = _find_answer(out, nonce)
            if want is None and len(out) > LONGEST_LINE:
                return b""
        if want is not None and len(out) >= want:
            return bytes(out[:want])
    return bytes(out) if want is not None else b""


def _find_answer(out: bytearray, nonce: bytes) -> int | None:
    """Drops the whole lines before the answer's from out; the answer's length once its line
    is there."""
    at = out.find(b"\n")
    while at >= 0:
        words = bytes(out[:at]).split()
        if len(words) == 3 and words[0] == nonce and words[1].isdigit() and words[2].isdigit():
            return at + 1 + int(words[1]) + int(words[2])
        del out[: at + 1]
        at = out.find(b"\n")
    return None
