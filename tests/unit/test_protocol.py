"""The bytes to and from the run script."""

from __future__ import annotations

import io
import tarfile

from sandbox.report import (
    DELETED_ARGUMENT_BYTES,
    Request,
    parse_frames,
    request_tar,
    run_request,
)


def report(*frames: tuple[str, bytes, bytes]) -> bytes:
    """The run script's layout: every header, the end header, then the contents in order."""
    headers = b"".join(
        kind.encode() + name + b"\0" + str(len(content)).encode() + b"\n"
        for kind, name, content in frames
    )
    return headers + b".\x000\n" + b"".join(content for _, _, content in frames)


def test_request_tar_holds_the_files() -> None:
    data = request_tar({"a/b.txt": "bé", "x" * 300: ""})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        content = tar.extractfile("files/a/b.txt").read()  # type: ignore[union-attr]
    assert names == ["files/a/b.txt", "files/" + "x" * 300]
    assert content == "bé".encode()


def test_run_request_sends_deletions_as_arguments_and_files_as_a_flat_tar() -> None:
    request = run_request({"a/b.txt": "bé"}, ["gone.txt", "-n\nl"])
    assert (request.mode, request.deleted) == ("files", ("gone.txt", "-n\nl"))
    with tarfile.open(fileobj=io.BytesIO(request.stdin)) as tar:
        assert tar.getnames() == ["a/b.txt"]
        assert tar.extractfile("a/b.txt").read() == "bé".encode()  # type: ignore[union-attr]


def test_run_request_with_no_files_sends_nothing() -> None:
    assert run_request({}, ["x"]) == Request("none", ("x",), b"")
    assert run_request({}, []) == Request("none", (), b"")


def test_run_request_stages_a_deletion_list_too_long_for_arguments() -> None:
    many = [f"{i:04}" + "x" * 1000 for i in range(DELETED_ARGUMENT_BYTES // 1000 + 1)]
    request = run_request({"a.txt": "a"}, many)
    assert (request.mode, request.deleted) == ("staged", ())
    with tarfile.open(fileobj=io.BytesIO(request.stdin)) as tar:
        assert tar.getnames() == [
            *(f"deleted/{n}/{name}" for n, name in enumerate(many)),
            "files/a.txt",
        ]
        assert all(member.size == 0 for member in tar.getmembers()[:-1])


def test_parse_frames_reads_every_kind() -> None:
    data = report(
        ("S", b"1", b""),
        ("U", b"1230", b""),
        ("T", b"1", b""),
        ("K", b"2", b""),
        ("O", b"", b"out\0put"),
        ("E", b"", b"err\n"),
        ("C", "new\nname é".encode(), b"made"),
        ("M", b"old.txt", b"edited"),
        ("X", b"gone.txt", b""),
    )
    frames = parse_frames(data)
    assert frames.complete
    assert (frames.status, frames.duration_ms, frames.timed_out) == (1, 1230, True)
    assert frames.oom_kills == 2
    assert (frames.stdout, frames.stderr) == (b"out\0put", b"err\n")
    assert frames.created == {"new\nname é".encode(): b"made"}
    assert frames.changed == {b"old.txt": b"edited"}
    assert frames.deleted == [b"gone.txt"]


def test_a_cut_or_garbled_report_keeps_what_came_before_and_says_incomplete() -> None:
    whole = report(("S", b"0", b""), ("O", b"", b"hello"), ("X", b"gone", b""))
    headers = whole[: whole.index(b".\x00")]
    for cut in (
        whole[:-2],  # the contents cut short
        whole + b"more",  # bytes after the last content
        headers,  # no end header
        headers + b"Z\x001\n.\x000\n",  # a kind that does not exist
        headers + b"S\x00notanumber\n",
        headers + b"Kforged\x000\n.\x000\n",  # user code can write into the stream
    ):
        frames = parse_frames(cut)
        assert frames.status == 0
        assert not frames.complete
    assert parse_frames(whole[:-2]).deleted == []  # the contents before the cut only


def test_no_report_at_all_has_no_status() -> None:
    frames = parse_frames(b"")
    assert frames.status is None and frames.complete


def test_a_report_without_the_memory_kill_count_leaves_it_unknown() -> None:
    frames = parse_frames(report(("S", b"0", b"")))
    assert frames.complete and frames.oom_kills is None


def test_a_sandbox_past_the_bound_is_reported_by_its_own_header() -> None:
    assert parse_frames(report(("S", b"0", b""), ("L", b"2000", b""))).too_many_files
    assert not parse_frames(report(("S", b"0", b""))).too_many_files
    assert not parse_frames(report(("S", b"0", b""), ("L", b"many", b""))).complete


def test_the_run_scripts_own_faults_are_kept_in_order() -> None:
    frames = parse_frames(report(("S", b"1", b""), ("F", b"keeping stdout; mkfifo", b"")))
    assert frames.complete and frames.faults == [b"keeping stdout; mkfifo"]


def test_the_files_the_run_script_could_not_write_are_kept_in_order() -> None:
    frames = parse_frames(
        report(("S", b"0", b""), ("W", "ro/new\nname é".encode(), b""), ("W", b"a.txt", b""))
    )
    assert frames.complete and frames.unwritten == ["ro/new\nname é".encode(), b"a.txt"]
    assert parse_frames(report(("S", b"0", b""))).unwritten == []
