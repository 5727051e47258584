"""The bytes that travel to and from the run script (worker/run.sh): pure, no Docker."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

FRAME_KINDS = frozenset("SUTOECMX")


def request_tar(changed_files: Mapping[str, str], deleted_filenames: Sequence[str] = ()) -> bytes:
    """A tar of `deleted` (NUL-separated names) and `files/<name>` for each changed file."""
    files = {"deleted": b"".join(name.encode() + b"\0" for name in deleted_filenames)}
    files.update((f"files/{name}", content.encode()) for name, content in changed_files.items())
    return tar_of(files)


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
    stdout: bytes = b""
    stderr: bytes = b""
    created: dict[bytes, bytes] = field(default_factory=dict)
    changed: dict[bytes, bytes] = field(default_factory=dict)
    deleted: list[bytes] = field(default_factory=list)
    complete: bool = True


def parse_frames(data: bytes) -> Frames:
    """Parses the run script's stdout; a cut or garbled tail marks the result incomplete."""
    frames = Frames()
    try:
        for kind, name, content in _frames(data):
            _apply(frames, kind, name, content)
    except ValueError:
        frames.complete = False
    return frames


def _frames(data: bytes) -> Iterator[tuple[str, bytes, bytes]]:
    at = 0
    while at < len(data):
        kind = chr(data[at])
        nul = data.index(b"\0", at + 1)
        newline = data.index(b"\n", nul + 1)
        size = int(data[nul + 1 : newline])
        start = newline + 1
        if kind not in FRAME_KINDS or size < 0 or start + size > len(data):
            raise ValueError(f"bad frame at byte {at}")
        yield kind, data[at + 1 : nul], data[start : start + size]
        at = start + size


def _apply(frames: Frames, kind: str, name: bytes, content: bytes) -> None:
    if kind == "S":
        frames.status = int(name)
    elif kind == "U":
        frames.duration_ms = int(name)
    elif kind == "T":
        frames.timed_out = True
    elif kind == "O":
        frames.stdout = content
    elif kind == "E":
        frames.stderr = content
    elif kind == "C":
        frames.created[name] = content
    elif kind == "M":
        frames.changed[name] = content
    else:
        frames.deleted.append(name)
