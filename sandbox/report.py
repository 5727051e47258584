"""The bytes that travel to and from the agent (agent/, sandbox/agent.py): pure, no Docker."""

from __future__ import annotations

from dataclasses import dataclass, field

FRAME_KINDS = frozenset("SUTKLFOECMXZWDN")
NUMBERED = frozenset("SUKL")  # kinds whose name is a number
END_HEADER = "."
# The agent's answer has two reports. The first is the root agent's own: how the run ended,
# its output, and the agent's look at the container, none of which a learner can shape. The
# second is the helper's, which runs as the learner's uid: only files are taken from it.
ROOT_KINDS = frozenset("SUTKOEZDNF")
FILE_KINDS = frozenset("CMXWLF")


@dataclass
class Frames:
    """What the agent reported, as raw bytes, before any capping or decoding."""

    status: int | None = None
    duration_ms: int | None = None
    timed_out: bool = False
    # How many processes the kernel killed for memory in the container; None when the
    # script could not read its cgroup's count (the engine's OOMKilled then says).
    oom_kills: int | None = None
    # The sandbox held more files than the agent compares (its bound) before or after
    # the run: created, changed and deleted cover the files it counted.
    too_many_files: bool = False
    # What of its own work the agent could not do (a fault header's text).
    faults: list[bytes] = field(default_factory=list)
    stdout: bytes = b""
    stderr: bytes = b""
    created: dict[bytes, bytes] = field(default_factory=dict)
    changed: dict[bytes, bytes] = field(default_factory=dict)
    deleted: list[bytes] = field(default_factory=list)
    # Files of the request the agent could not write into the sandbox.
    unwritten: list[bytes] = field(default_factory=list)
    complete: bool = True
    # The root agent found the container clean after the run (Z): no process but its own,
    # nothing in the places outside the sandboxes, no IPC object, no OOM kill. Else dirty
    # holds its reasons (D).
    left_clean: bool = False
    dirty: list[bytes] = field(default_factory=list)
    # What the run could not start without (N): "kata" (its volume has no layout) or "avatar"
    # (the avatar's sandbox does not exist).
    missing: str | None = None

    @property
    def whole(self) -> bool:
        """The report says all the engine would: how the run ended, and whether the kernel
        killed a process for memory."""
        return self.complete and self.status is not None and self.oom_kills is not None


def parse_frames(data: bytes, kinds: frozenset[str] = FRAME_KINDS) -> Frames:
    """Parses one of the agent's reports; a cut or garbled one keeps what came before it and
    is marked incomplete.

    The report is a list of headers (a kind letter, a name, NUL, a size, newline), an end
    header `.`, then the contents of the headers in their order, each `size` bytes.
    """
    frames = Frames()
    if not data:
        return frames
    headers: list[tuple[str, bytes, int]] = []
    try:
        at = _headers(data, headers, kinds)
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


def _headers(data: bytes, headers: list[tuple[str, bytes, int]], kinds: frozenset[str]) -> int:
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
        if kind not in kinds or size < 0:
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
    elif kind == "D":
        frames.dirty.append(name)
    elif kind == "N":
        frames.missing = name.decode(errors="replace")
    else:
        frames.deleted.append(name)


def parse_answer(data: bytes) -> Frames:
    """Parses the agent's answer: "<nonce> <root size> <files size>", a newline, the root
    agent's report, then the helper's. Kinds are taken from each report only as it may give
    them: how the run ended from root's alone, files from the helper's alone. An answer cut
    short, or a helper's report missing, cut or garbled, is not whole: the run is faulty."""
    newline = data.find(b"\n")
    words = data[:newline].split() if newline >= 0 else []
    if len(words) != 3 or not words[1].isdigit() or not words[2].isdigit():
        return Frames(complete=False)
    root_size, files_size = int(words[1]), int(words[2])
    root_at = newline + 1
    files_at = root_at + root_size
    frames = parse_frames(data[root_at:files_at], ROOT_KINDS)
    if len(data) < files_at + files_size:
        frames.complete = False
        return frames
    if frames.status is None:
        return frames  # no run: its files are not looked at
    files = parse_frames(data[files_at : files_at + files_size], FILE_KINDS)
    if not files_size or not files.complete:
        frames.faults.append(b"the run's files were not reported whole")
    frames.created, frames.changed = files.created, files.changed
    frames.deleted, frames.unwritten = files.deleted, files.unwritten
    frames.too_many_files = files.too_many_files
    frames.faults += files.faults
    return frames
