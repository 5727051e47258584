"""The bytes that travel to and from the run script (sandbox/run.sh): pure, no Docker."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

FRAME_KINDS = frozenset("SUTKLFOECMXZW")
NUMBERED = frozenset("SUKL")  # kinds whose name is a number
END_HEADER = "."


# Filenames to delete travel as the run script's arguments up to this many bytes (far below
# the kernel's limit on arguments, 128 KiB a string and a quarter of the stack in all); a
# longer list travels staged in the request tar.
DELETED_ARGUMENT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    """A run's changes as the run script takes them: its mode argument, the filenames to
    delete as arguments, and its stdin."""

    mode: str
    deleted: tuple[str, ...]
    stdin: bytes


def run_request(changed_files: Mapping[str, str], deleted_filenames: Sequence[str]) -> Request:
    """Deletions as arguments and the files tarred at the top (`files`), or nothing to send
    (`none`); a long list of deletions is `staged` with the files in one tar instead, each
    name an empty file in a folder of its own. Names are data all the way: never shell text."""
    if sum(len(name.encode()) + 1 for name in deleted_filenames) > DELETED_ARGUMENT_BYTES:
        marks = {f"deleted/{n}/{name}": b"" for n, name in enumerate(deleted_filenames)}
        return Request("staged", (), tar_of({**marks, **_encoded(changed_files, "files/")}))
    if not changed_files:
        return Request("none", tuple(deleted_filenames), b"")
    return Request("files", tuple(deleted_filenames), tar_of(_encoded(changed_files)))


def request_tar(files: Mapping[str, str]) -> bytes:
    """A tar of `files/<name>` for each file: what admin.sh fills a sandbox with."""
    return tar_of(_encoded(files, "files/"))


def _encoded(files: Mapping[str, str], prefix: str = "") -> dict[str, bytes]:
    return {prefix + name: content.encode() for name, content in files.items()}


def tar_of(files: Mapping[str, bytes]) -> bytes:
    """A tar of regular files, mode 0644, in the order given."""
    buffer = io.BytesIO()
    # GNU format: long names travel as ././@LongLink, which GNU tar and busybox both read.
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Frames:
    """What the run script reported, as raw bytes, before any capping or decoding."""

    status: int | None = None
    duration_ms: int | None = None
    timed_out: bool = False
    # How many processes the kernel killed for memory in the container; None when the
    # script could not read its cgroup's count (the engine's OOMKilled then says).
    oom_kills: int | None = None
    # The sandbox held more files than the run script compares (its bound) before or after
    # the run: created, changed and deleted cover the files it counted.
    too_many_files: bool = False
    # What of its own work the run script could not do (a fault header's text).
    faults: list[bytes] = field(default_factory=list)
    stdout: bytes = b""
    stderr: bytes = b""
    created: dict[bytes, bytes] = field(default_factory=dict)
    changed: dict[bytes, bytes] = field(default_factory=dict)
    deleted: list[bytes] = field(default_factory=list)
    # Files of the request the run script could not write into the sandbox.
    unwritten: list[bytes] = field(default_factory=list)
    complete: bool = True
    # The script says it found nothing of the run left outside the sandbox. The learner can
    # forge it, so it can only make the worker stricter: the watcher decides (operations.py).
    left_clean: bool = False

    @property
    def whole(self) -> bool:
        """The report says all the engine would: how the run ended, and whether the kernel
        killed a process for memory."""
        return self.complete and self.status is not None and self.oom_kills is not None


def parse_frames(data: bytes) -> Frames:
    """Parses the run script's report; a cut or garbled one keeps what came before it and
    is marked incomplete.

    The report is a list of headers (a kind letter, a name, NUL, a size, newline), an end
    header `.`, then the contents of the headers in their order, each `size` bytes.
    """
    frames = Frames()
    if not data:
        return frames
    headers: list[tuple[str, bytes, int]] = []
    try:
        at = _headers(data, headers)
    except ValueError:
        frames.complete = False
        for kind, name, size in headers:
            if size == 0:
                _apply(frames, kind, name, b"")
        return frames
    for kind, name, size in headers:
        if at + size > len(data):
            frames.complete = False
            return frames
        _apply(frames, kind, name, data[at : at + size])
        at += size
    frames.complete = at == len(data)
    return frames


def _headers(data: bytes, headers: list[tuple[str, bytes, int]]) -> int:
    """Appends each header up to the end header; returns where the contents start."""
    at = 0
    while True:
        if at >= len(data):
            raise ValueError("the report ends before its end header")
        kind = chr(data[at])
        nul = data.index(b"\0", at + 1)
        newline = data.index(b"\n", nul + 1)
        size = int(data[nul + 1 : newline])
        if kind == END_HEADER:
            return newline + 1
        if kind not in FRAME_KINDS or size < 0:
            raise ValueError(f"bad header at byte {at}")
        name = data[at + 1 : nul]
        if kind in NUMBERED:
            int(name)  # user code can write into the report's stream: a ValueError if garbled
        headers.append((kind, name, size))
        at = newline + 1


def _apply(frames: Frames, kind: str, name: bytes, content: bytes) -> None:
    if kind == "S":
        frames.status = int(name)
    elif kind == "U":
        frames.duration_ms = int(name)
    elif kind == "T":
        frames.timed_out = True
    elif kind == "K":
        frames.oom_kills = int(name)
    elif kind == "L":
        frames.too_many_files = True
    elif kind == "F":
        frames.faults.append(name)
    elif kind == "O":
        frames.stdout = content
    elif kind == "E":
        frames.stderr = content
    elif kind == "C":
        frames.created[name] = content
    elif kind == "M":
        frames.changed[name] = content
    elif kind == "Z":
        frames.left_clean = True
    elif kind == "W":
        frames.unwritten.append(name)
    else:
        frames.deleted.append(name)
