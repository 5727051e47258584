"""The agent's reports, as the worker reads them."""

from __future__ import annotations

from sandbox.report import parse_answer, parse_frames


def report(*frames: tuple[str, bytes, bytes]) -> bytes:
    """A report's layout: every header, the end header, then the contents in order."""
    headers = b"".join(
        kind.encode() + name + b"\0" + str(len(content)).encode() + b"\n"
        for kind, name, content in frames
    )
    return headers + b".\x000\n" + b"".join(content for _, _, content in frames)


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


def answer(root: bytes, files: bytes, nonce: bytes = b"n0") -> bytes:
    return b"%s %d %d\n%s%s" % (nonce, len(root), len(files), root, files)


ROOT = report(("S", b"3", b""), ("K", b"0", b""), ("O", b"", b"out"), ("Z", b"1", b""))


def test_an_answer_takes_the_run_from_root_and_the_files_from_the_helper() -> None:
    files = report(("C", b"new.txt", b"new"), ("X", b"gone.txt", b""), ("W", b"ro/x", b""))
    frames = parse_answer(answer(ROOT, files))
    assert (frames.whole, frames.status, frames.stdout, frames.left_clean) == (
        True,
        3,
        b"out",
        True,
    )
    assert (frames.created, frames.deleted, frames.unwritten) == (
        {b"new.txt": b"new"},
        [b"gone.txt"],
        [b"ro/x"],
    )
    assert frames.faults == []


def test_the_helpers_report_cannot_say_how_the_run_ended_nor_that_it_is_clean() -> None:
    forged = report(("S", b"0", b""), ("Z", b"1", b""), ("O", b"", b"FAKE"))
    frames = parse_answer(answer(report(("S", b"3", b""), ("K", b"0", b"")), forged))
    assert (frames.status, frames.stdout, frames.left_clean) == (3, b"", False)
    assert frames.faults == [b"the run's files were not reported whole"]


def test_a_missing_or_cut_helpers_report_is_a_fault() -> None:
    assert parse_answer(answer(ROOT, b"")).faults == [b"the run's files were not reported whole"]
    cut = parse_answer(answer(ROOT, report(("C", b"a", b"abc")))[:-1])
    assert not cut.complete


def test_an_answer_cut_or_without_its_line_is_not_whole() -> None:
    whole = answer(ROOT, report())
    assert parse_answer(whole).whole
    assert not parse_answer(whole[: len(whole) - len(report()) - 1]).whole
    assert not parse_answer(b"").whole
    assert not parse_answer(b"n0 x 3\n").whole


def test_a_look_has_no_run_and_its_reasons() -> None:
    frames = parse_answer(answer(report(("K", b"0", b""), ("D", b"tasks:3", b"")), b""))
    assert (frames.status, frames.left_clean, frames.dirty, frames.faults) == (
        None,
        False,
        [b"tasks:3"],
        [],
    )
