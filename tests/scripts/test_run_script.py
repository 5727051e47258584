"""run.sh under busybox sh and dash, against a temporary folder: no docker.

What needs a container is left to tests/sandbox: the uids (every file operation bounded by the
avatar's), the sweep that kills every other process (here /proc holds no process), the
read-only root, the real cgroup's OOM count.
"""

from __future__ import annotations

import os
import stat
import time

import pytest

from sandbox.report import DELETED_ARGUMENT_BYTES, run_request
from sandbox.scripts import Exit
from tests.scripts.conftest import RunFolder


def test_a_run_reports_its_status_output_and_duration(folder: RunFolder) -> None:
    ran = folder.run("echo out; echo err >&2; exit 3")
    frames = ran.frames
    assert ran.code == 0 and ran.stderr == b""
    assert frames.whole
    assert (frames.status, frames.stdout, frames.stderr) == (3, b"out\n", b"err\n")
    assert frames.duration_ms is not None and 0 <= frames.duration_ms < 5000
    assert not frames.timed_out


def test_the_report_is_headers_then_their_contents_in_order(folder: RunFolder) -> None:
    folder.write({"old.txt": "old", "gone.txt": "gone"})
    ran = folder.run("printf o; printf ee >&2; echo new > old.txt; rm gone.txt; : > made")
    head, _, body = ran.stdout.partition(b".\x000\n")
    lines = head.split(b"\n")[:-1]
    assert lines[0] == b"S0\x000" and lines[1].startswith(b"U") and lines[2] == b"K0\x000"
    assert lines[3:] == [
        b"O\x001",
        b"E\x002",
        b"Cmade\x000",
        b"Mold.txt\x004",
        b"Xgone.txt\x000",
    ]
    assert body == b"oeenew\n"


def test_created_changed_and_deleted_files_are_reported(folder: RunFolder) -> None:
    folder.write({"a.txt": "a", "b.txt": "b", "same.txt": "s", "d/e.txt": "e", "d/f.txt": "f"})
    frames = folder.run(
        "echo A > a.txt; rm b.txt; touch same.txt; rm d/e.txt; mkdir d/e.txt\n"
        "echo new > new.txt; mkdir -p g/h; echo deep > g/h/i.txt; echo F > d/f.txt\n"
    ).frames
    assert frames.created == {b"new.txt": b"new\n", b"g/h/i.txt": b"deep\n"}
    assert frames.changed == {b"a.txt": b"A\n", b"d/f.txt": b"F\n"}
    assert sorted(frames.deleted) == [b"b.txt", b"d/e.txt"]


def test_names_md5sum_would_escape_are_reported_too(folder: RunFolder) -> None:
    folder.write({"odd\nold": "o", "back\\slash": "b", "t\tab/in.txt": "i"})
    frames = folder.run(
        "echo B > 'back\\slash'; rm -r \"$(printf 't\\tab')\"\n"
        "rm \"$(printf 'odd\\nold')\"; echo n > \"$(printf 'new\\nline')\"\n"
    ).frames
    assert frames.created == {b"new\nline": b"n\n"}
    assert frames.changed == {b"back\\slash": b"B\n"}
    assert sorted(frames.deleted) == [b"odd\nold", b"t\tab/in.txt"]


def test_symlinks_fifos_and_folders_are_not_files(folder: RunFolder) -> None:
    folder.write({"target.txt": "t", "swapped": "s"})
    frames = folder.run(
        "ln -s target.txt link; ln -s /etc etc; mkfifo fifo; mkdir empty\n"
        "rm swapped; ln -s target.txt swapped\n"
    ).frames
    assert frames.created == {} and frames.changed == {}
    assert frames.deleted == [b"swapped"]


def test_deletions_travel_as_arguments_when_nothing_is_written(folder: RunFolder) -> None:
    folder.write({"cyber-dojo.sh": "ls", "x.txt": "x", "y.txt": "y", "a b.txt": "ab"})
    assert run_request({}, ["x.txt"]).mode == "none"
    frames = folder.run(None, deleted=["x.txt", "a b.txt", "not-there"]).frames
    assert frames.stdout == b"cyber-dojo.sh\ny.txt\n"
    assert frames.deleted == []  # gone before the run: not the run's doing
    assert folder.files() == {"cyber-dojo.sh": b"ls", "y.txt": b"y"}


def test_files_are_written_after_the_deletions(folder: RunFolder) -> None:
    folder.write({"old.txt": "old", "both.txt": "before"})
    frames = folder.run(
        "cat both.txt; ls", {"sub/new.txt": "new", "both.txt": "after"}, ["old.txt", "both.txt"]
    ).frames
    assert frames.stdout == b"after" + b"both.txt\ncyber-dojo.sh\nsub\n"
    assert frames.created == {} and frames.changed == {} and frames.deleted == []
    assert folder.files() == {
        "both.txt": b"after",
        "cyber-dojo.sh": b"cat both.txt; ls",
        "sub/new.txt": b"new",
    }


def test_a_long_list_of_deletions_is_staged_and_removed(folder: RunFolder) -> None:
    names = [f"{n:05d}-" + "x" * 40 for n in range(2000)] + ["deep/er/file", "odd\nname"]
    assert sum(len(name) + 1 for name in names) > DELETED_ARGUMENT_BYTES
    folder.write({name: "gone" for name in names} | {"kept.txt": "kept"})
    os.chmod(folder.sandbox, 0o750)
    assert run_request({"cyber-dojo.sh": ""}, names).mode == "staged"
    frames = folder.run("ls -A | wc -l", {"new/file.txt": "new"}, names).frames
    assert frames.stdout.split() == [b"4"]  # cyber-dojo.sh, deep, kept.txt, new
    assert folder.files() == {
        "cyber-dojo.sh": b"ls -A | wc -l",
        "kept.txt": b"kept",
        "new/file.txt": b"new",
    }
    # The sandbox keeps its own mode: the staging folder's is not copied onto it.
    assert stat.S_IMODE(folder.sandbox.stat().st_mode) == 0o750


def test_a_run_past_max_seconds_is_killed_and_reported_timed_out(folder: RunFolder) -> None:
    frames = folder.run("echo started; exec sleep 30", max_seconds=1).frames
    assert frames.timed_out and frames.whole
    assert frames.status == 137  # SIGKILL
    assert frames.stdout == b"started\n"


def test_output_and_files_are_cut_at_their_caps_plus_one_byte(folder: RunFolder) -> None:
    frames = folder.run(
        "head -c 100000 /dev/zero; printf 12345 >&2\n"
        "head -c 3000 /dev/zero > big; printf small > small; head -c 50 /dev/zero > 'o\\dd'\n",
        output_bytes=1000,
        file_bytes=10,
    ).frames
    assert len(frames.stdout) == 1001 and frames.stderr == b"12345"
    assert frames.created == {b"big": bytes(11), b"small": b"small", b"o\\dd": bytes(11)}
    assert frames.whole


def test_the_oom_count_is_read_from_cgroup_v1_first(folder: RunFolder) -> None:
    (folder.cgroup / "memory").mkdir()
    (folder.cgroup / "memory" / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    )
    assert folder.run("true").frames.oom_kills == 2


def test_without_an_oom_count_the_report_is_not_whole(folder: RunFolder) -> None:
    (folder.cgroup / "memory.events").unlink()
    frames = folder.run("true").frames
    assert frames.oom_kills is None and not frames.whole and frames.status == 0


def test_no_sandbox_exits_before_touching_anything(folder: RunFolder) -> None:
    folder.sandbox.rmdir()
    ran = folder.run("true", {"a.txt": "a"})
    assert (ran.code, ran.stdout) == (Exit.NO_SANDBOX, b"")
    assert not folder.sandbox.exists()


def test_a_bookkeeping_folder_already_there_exits(folder: RunFolder) -> None:
    (folder.next_tmp / ".runner").mkdir(parents=True)
    ran = folder.run("true")
    assert (ran.code, ran.stdout) == (Exit.NO_WORK_FOLDER, b"")


def test_a_staged_request_that_is_no_tar_exits(folder: RunFolder) -> None:
    names = ["x" * 100 + str(n) for n in range(1000)]
    ran = folder.run("true", deleted=names, stdin=b"not a tar")
    assert (ran.code, ran.stdout) == (Exit.BAD_REQUEST, b"")


def test_the_launcher_exits_when_the_script_is_not_there(folder: RunFolder) -> None:
    ran = folder.run("true", script_path=folder.root / "run-0.sh")
    assert (ran.code, ran.stdout) == (Exit.NO_SCRIPT, b"")


def test_a_sandbox_past_max_files_is_compared_up_to_them_and_says_so(folder: RunFolder) -> None:
    folder.write({f"many/{n:03d}": "x" for n in range(30)})
    frames = folder.run("echo changed > many/000; echo new > new; rm many/001", max_files=10).frames
    assert frames.too_many_files and frames.whole and frames.status == 0
    # Past the walk before the run, a file is not known to be new: none is reported created.
    assert frames.created == {}
    assert frames.deleted == [b"many/001"]


def test_a_sandbox_the_run_fills_past_max_files_says_so(folder: RunFolder) -> None:
    frames = folder.run("for n in 1 2 3 4 5; do : > f$n; done", max_files=3).frames
    assert frames.too_many_files
    assert len(frames.created) == 2  # cyber-dojo.sh was there before: 3 files in all


def test_a_sandbox_under_max_files_does_not_say_so(folder: RunFolder) -> None:
    folder.write({f"f{n}": "x" for n in range(9)})
    frames = folder.run("rm f0", max_files=10).frames  # 10 files with cyber-dojo.sh
    assert not frames.too_many_files and frames.deleted == [b"f0"]


def test_a_sandbox_of_many_files_costs_a_run_no_more_than_max_files_do(
    folder: RunFolder,
) -> None:
    many = folder.sandbox / "many"
    many.mkdir()
    for n in range(20_000):
        (many / f"file-{n:05d}.txt").write_bytes(b"")
    started = time.monotonic()
    frames = folder.run("rm -r many", max_files=500).frames
    elapsed_s = time.monotonic() - started
    assert frames.too_many_files and frames.status == 0
    assert elapsed_s < 3, f"a run of a sandbox of 20,000 files took {elapsed_s:.1f} s"
    again = folder.run("true", max_files=500).frames
    assert not again.too_many_files and again.deleted == []


@pytest.mark.parametrize(
    ("bookkeeping_file", "fault"),
    [
        ("after", b"md5sum of the sandbox after the run"),
        ("report", b"the list of changes"),
        ("sizes", b"wc of the output and files"),
    ],
)
def test_a_failure_of_the_scripts_own_work_is_reported_as_a_fault(
    folder: RunFolder, bookkeeping_file: str, fault: bytes
) -> None:
    """A file of its bookkeeping that cannot be written (a folder of that name, which even
    root cannot write as a file) fails the step that writes it."""
    work = folder.next_tmp / ".runner"
    ran = folder.run(
        f"head -c 100 /dev/zero > big; mkdir '{work}/{bookkeeping_file}'\n"
        "echo out; echo err >&2; exit 1",
        file_bytes=10,
    )
    frames = ran.frames
    assert frames.status == 1 and frames.complete
    assert len(frames.faults) == 1 and fault in frames.faults[0].split(b"; ")


def test_a_run_without_faults_reports_none(folder: RunFolder) -> None:
    frames = folder.run("echo out; exit 1").frames
    assert frames.faults == [] and frames.whole
