"""The bytes to and from the run script."""

from __future__ import annotations

import io
import tarfile

from worker.protocol import parse_frames, request_tar


def frame(kind: str, name: bytes = b"", content: bytes = b"") -> bytes:
    return kind.encode() + name + b"\0" + str(len(content)).encode() + b"\n" + content


def test_request_tar_holds_the_deleted_names_and_the_files() -> None:
    data = request_tar({"a/b.txt": "bé", "x" * 300: ""}, ["gone.txt", "new\nline"])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        deleted = tar.extractfile("deleted").read()  # type: ignore[union-attr]
        content = tar.extractfile("files/a/b.txt").read()  # type: ignore[union-attr]
    assert names == ["deleted", "files/a/b.txt", "files/" + "x" * 300]
    assert deleted == b"gone.txt\0new\nline\0"
    assert content == "bé".encode()


def test_parse_frames_reads_every_kind() -> None:
    data = (
        frame("S", b"1")
        + frame("U", b"1230")
        + frame("T", b"1")
        + frame("O", b"", b"out\0put")
        + frame("E", b"", b"err\n")
        + frame("C", "new\nname é".encode(), b"made")
        + frame("M", b"old.txt", b"edited")
        + frame("X", b"gone.txt")
    )
    frames = parse_frames(data)
    assert frames.complete
    assert (frames.status, frames.duration_ms, frames.timed_out) == (1, 1230, True)
    assert (frames.stdout, frames.stderr) == (b"out\0put", b"err\n")
    assert frames.created == {"new\nname é".encode(): b"made"}
    assert frames.changed == {b"old.txt": b"edited"}
    assert frames.deleted == [b"gone.txt"]


def test_a_cut_or_garbled_report_keeps_what_came_before_and_says_incomplete() -> None:
    whole = frame("S", b"0") + frame("O", b"", b"hello")
    for cut in (whole[:-2], whole + b"Z\0" + b"1\nx", whole + b"S\0notanumber\n", whole + b"O"):
        frames = parse_frames(cut)
        assert frames.status == 0
        assert not frames.complete


def test_no_report_at_all_has_no_status() -> None:
    frames = parse_frames(b"")
    assert frames.status is None and frames.complete
