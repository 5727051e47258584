"""run.sh writing a request into a sandbox whose own state stands in the way of some files:
every other file is written, and the report names the ones that were not (W).

Under busybox sh and dash, against a temporary folder: no docker. A read-only folder stops
only a uid that is not root, so it is tested here when the tests do not run as root, and in
the docker tier (tests/sandbox/test_unwritten.py) always.
"""

from __future__ import annotations

import os

import pytest

from sandbox.report import run_request
from tests.scripts.conftest import RunFolder

LONG_DELETIONS = [f"{n:04d}-" + "x" * 100 for n in range(700)]  # too long for arguments


def test_every_file_is_written_and_none_reported_unwritten(folder: RunFolder) -> None:
    folder.write({"cyber-dojo.sh": "echo old", "sub/old.txt": "old"})
    frames = folder.run("cat sub/old.txt", {"sub/old.txt": "new", "a/b/c.txt": "c"}).frames
    assert frames.whole and frames.unwritten == []
    assert frames.stdout == b"new"
    assert folder.files() == {
        "a/b/c.txt": b"c",
        "cyber-dojo.sh": b"cat sub/old.txt",
        "sub/old.txt": b"new",
    }


def test_a_folder_where_a_file_goes_is_unwritten_and_the_rest_is_written(
    folder: RunFolder,
) -> None:
    folder.write({"cyber-dojo.sh": "echo old", "b.txt/kept": "kept", "c/d.txt/kept": "kept"})
    changed = {"a.txt": "a", "b.txt": "b", "c/d.txt": "d", "c/e.txt": "e", "z.txt": "z"}
    frames = folder.run("echo new", changed).frames
    assert frames.stdout == b"new\n" and frames.status == 0
    assert sorted(frames.unwritten) == [b"b.txt", b"c/d.txt"]
    assert folder.files() == {
        "a.txt": b"a",
        "b.txt/kept": b"kept",
        "c/d.txt/kept": b"kept",
        "c/e.txt": b"e",
        "cyber-dojo.sh": b"echo new",
        "z.txt": b"z",
    }


def test_a_file_where_a_folder_goes_leaves_the_files_under_it_unwritten(
    folder: RunFolder,
) -> None:
    folder.write({"f": "a file"})
    frames = folder.run("echo new", {"a.txt": "a", "f/x": "x", "f/y/z": "z", "g/h": "h"}).frames
    assert frames.stdout == b"new\n"
    assert sorted(frames.unwritten) == [b"f/x", b"f/y/z"]
    assert folder.files() == {
        "a.txt": b"a",
        "cyber-dojo.sh": b"echo new",
        "f": b"a file",
        "g/h": b"h",
    }


def test_a_symlinked_folder_is_never_written_through_wherever_it_points(
    folder: RunFolder,
) -> None:
    outside = folder.root / "outside"
    outside.mkdir()
    (folder.sandbox / "real").mkdir()
    folder.write({"cyber-dojo.sh": "echo old"})
    (folder.sandbox / "dangling").symlink_to(folder.root / "nowhere")
    (folder.sandbox / "out").symlink_to(outside)
    (folder.sandbox / "in").symlink_to("real")
    changed = {"a.txt": "a", "dangling/x": "x", "out/x": "x", "in/x": "x", "z/y.txt": "y"}
    frames = folder.run("echo new", changed).frames
    assert frames.stdout == b"new\n" and frames.status == 0
    assert sorted(frames.unwritten) == [b"dangling/x", b"in/x", b"out/x"]
    assert list(outside.iterdir()) == [] and list((folder.sandbox / "real").iterdir()) == []
    assert not (folder.root / "nowhere").exists()
    assert folder.files() == {"a.txt": b"a", "cyber-dojo.sh": b"echo new", "z/y.txt": b"y"}


def test_a_symlink_fifo_or_empty_folder_where_a_file_goes_is_replaced_by_it(
    folder: RunFolder,
) -> None:
    outside = folder.root / "outside.txt"
    outside.write_text("outside")
    folder.write({"target.txt": "target"})
    (folder.sandbox / "to-outside").symlink_to(outside)
    (folder.sandbox / "to-target").symlink_to("target.txt")
    (folder.sandbox / "dangling").symlink_to(folder.root / "nowhere")
    os.mkfifo(folder.sandbox / "fifo")
    (folder.sandbox / "empty").mkdir()
    names = ["to-outside", "to-target", "dangling", "fifo", "empty"]
    frames = folder.run("true", {name: name for name in names}).frames
    assert frames.unwritten == [] and frames.status == 0
    assert folder.files() == {
        "cyber-dojo.sh": b"true",
        "target.txt": b"target",
        **{name: name.encode() for name in names},
    }
    assert outside.read_text() == "outside" and not (folder.root / "nowhere").exists()


def test_odd_names_not_written_are_reported_too(folder: RunFolder) -> None:
    folder.write({"odd\nname/kept": "kept", "back\\slash": "a file", "tab\there": "old"})
    changed = {"odd\nname": "o", "back\\slash/x": "x", "tab\there": "new", "new\nline": "n"}
    frames = folder.run("echo new", changed).frames
    assert frames.stdout == b"new\n"
    assert sorted(frames.unwritten) == [b"back\\slash/x", b"odd\nname"]
    assert folder.files()["tab\there"] == b"new" and folder.files()["new\nline"] == b"n"


def test_a_staged_request_reports_its_unwritten_files_too(folder: RunFolder) -> None:
    folder.write({name: "gone" for name in LONG_DELETIONS} | {"b.txt/kept": "kept"})
    changed = {"a.txt": "a", "b.txt": "b", "c.txt": "c"}
    assert run_request(changed, LONG_DELETIONS).mode == "staged"
    frames = folder.run("ls", changed, LONG_DELETIONS).frames
    assert frames.stdout == b"a.txt\nb.txt\nc.txt\ncyber-dojo.sh\n"
    assert frames.unwritten == [b"b.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_folder_leaves_its_new_files_unwritten(folder: RunFolder) -> None:
    folder.write({"ro/old.txt": "old", "ro/locked.txt": "locked"})
    (folder.sandbox / "ro" / "locked.txt").chmod(0o444)
    (folder.sandbox / "ro").chmod(0o555)
    try:
        changed = {"a.txt": "a", "ro/new.txt": "n", "ro/old.txt": "new", "ro/locked.txt": "l"}
        frames = folder.run("echo new", changed).frames
    finally:
        (folder.sandbox / "ro").chmod(0o755)
    assert frames.stdout == b"new\n"
    assert sorted(frames.unwritten) == [b"ro/locked.txt", b"ro/new.txt"]
    assert folder.files()["ro/old.txt"] == b"new" and folder.files()["a.txt"] == b"a"
