"""admin.sh under busybox sh and dash, against a temporary volume: no docker.

Every step runs as this test's user here, not as root or the avatar's uid as in the helper
container: the uid boundaries (root never touching user paths) are left to tests/sandbox, and
making a folder owned by another uid needs root.
"""

from __future__ import annotations

import os
import stat

import pytest

from sandbox.report import request_tar
from sandbox.scripts import Exit
from tests.scripts.conftest import AdminFolder

NOW = "2026-11-28T09:30:15.000000Z"
SCRIPT = b"echo the run script\n"


def mode(path: os.PathLike[str]) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def laid_out(volume: AdminFolder) -> AdminFolder:
    assert volume.step("kata", NOW, "run-1.sh", stdin=SCRIPT).code == 0
    return volume


def with_sandbox(volume: AdminFolder) -> AdminFolder:
    laid_out(volume)
    (volume.sandboxes / "lion").mkdir(mode=0o700)
    return volume


def test_the_kata_step_lays_the_volume_out_and_installs_the_script(volume: AdminFolder) -> None:
    ran = volume.step("kata", NOW, "run-1.sh", stdin=SCRIPT)
    assert (ran.code, ran.stderr) == (0, b"")
    assert mode(volume.sandboxes) == mode(volume.runner) == 0o755
    assert (volume.runner / "hello_at").read_text() == NOW + "\n"
    assert (volume.runner / "run-1.sh").read_bytes() == SCRIPT
    assert mode(volume.runner / "run-1.sh") == 0o644
    assert sorted(os.listdir(volume.runner)) == ["hello_at", "run-1.sh"]


def test_the_kata_step_again_resumes_the_kata(volume: AdminFolder) -> None:
    laid_out(volume)
    later = "2026-11-29T00:00:00.000000Z"
    assert volume.step("kata", later, "run-1.sh", stdin=b"new text\n").code == 0
    assert (volume.runner / "hello_at").read_text() == later + "\n"
    assert (volume.runner / "run-1.sh").read_bytes() == b"new text\n"


def test_the_script_step_installs_another_version_beside_the_first(volume: AdminFolder) -> None:
    laid_out(volume)
    assert volume.step("script", "run-2.sh", stdin=b"version 2\n").code == 0
    assert (volume.runner / "run-1.sh").read_bytes() == SCRIPT
    assert (volume.runner / "run-2.sh").read_bytes() == b"version 2\n"
    assert mode(volume.runner / "run-2.sh") == 0o644


def test_an_install_that_fails_leaves_no_script_of_that_name(volume: AdminFolder) -> None:
    laid_out(volume)
    # The part file cannot be written (a folder is in the way, for root too).
    (volume.runner / ".run-2.sh.part").mkdir()
    ran = volume.step("script", "run-2.sh", stdin=b"version 2\n")
    assert ran.code not in (0, *Exit)
    assert not (volume.runner / "run-2.sh").exists()


def test_the_script_step_on_a_volume_never_laid_out_exits(volume: AdminFolder) -> None:
    ran = volume.step("script", "run-1.sh", stdin=SCRIPT)
    assert ran.code == Exit.NO_LAYOUT
    assert os.listdir(volume.sandboxes) == []


def test_the_avatar_step_on_a_volume_never_laid_out_exits(volume: AdminFolder) -> None:
    assert volume.step("avatar", "lion", "40028", NOW).code == Exit.NO_LAYOUT
    assert os.listdir(volume.sandboxes) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="a folder owned by another uid needs root")
def test_the_avatar_step_makes_the_sandbox_owned_by_its_uid(volume: AdminFolder) -> None:
    laid_out(volume)
    later = "2026-11-29T00:00:00.000000Z"
    assert volume.step("avatar", "lion", "40028", later).code == 0
    made = (volume.sandboxes / "lion").stat()
    assert (made.st_uid, made.st_gid, stat.S_IMODE(made.st_mode)) == (40028, 5000, 0o700)
    assert (volume.runner / "hello_at").read_text() == later + "\n"


def test_the_fill_step_sets_the_sandbox_to_exactly_the_files(volume: AdminFolder) -> None:
    with_sandbox(volume)
    lion = volume.sandboxes / "lion"
    (lion / "locked").mkdir()
    (lion / "locked" / "old.txt").write_text("old")
    (lion / "locked").chmod(0o500)
    (lion / ".hidden").write_text("hidden")
    lion.chmod(0o755)
    tar = request_tar({"cyber-dojo.sh": "true", "sub/a b.txt": "ab", "odd\nname": "o"})
    ran = volume.step("fill", "lion", stdin=tar)
    assert (ran.code, ran.stderr) == (0, b"")
    files = {str(p.relative_to(lion)): p.read_bytes() for p in lion.rglob("*") if p.is_file()}
    assert files == {"cyber-dojo.sh": b"true", "sub/a b.txt": b"ab", "odd\nname": b"o"}
    assert mode(lion) == 0o700


def test_the_fill_step_with_no_files_empties_the_sandbox(volume: AdminFolder) -> None:
    with_sandbox(volume)
    (volume.sandboxes / "lion" / "old.txt").write_text("old")
    assert volume.step("fill", "lion", stdin=request_tar({})).code == 0
    assert os.listdir(volume.sandboxes / "lion") == []


def test_the_fill_step_without_a_sandbox_exits(volume: AdminFolder) -> None:
    laid_out(volume)
    ran = volume.step("fill", "lion", stdin=request_tar({"a": "a"}))
    assert ran.code == Exit.NO_SANDBOX


def test_the_fill_step_with_a_stdin_that_is_no_tar_exits(volume: AdminFolder) -> None:
    with_sandbox(volume)
    assert volume.step("fill", "lion", stdin=b"not a tar").code == Exit.BAD_REQUEST


def test_the_empty_step_empties_the_sandbox_and_keeps_it(volume: AdminFolder) -> None:
    with_sandbox(volume)
    lion = volume.sandboxes / "lion"
    (lion / "deep" / "er").mkdir(parents=True)
    (lion / "deep" / "er" / "file").write_text("f")
    (lion / "deep").chmod(0o500)
    assert volume.step("empty", "lion").code == 0
    assert lion.is_dir() and os.listdir(lion) == []


def test_the_empty_step_without_a_sandbox_exits(volume: AdminFolder) -> None:
    laid_out(volume)
    assert volume.step("empty", "lion").code == Exit.NO_SANDBOX


def test_the_remove_step_removes_an_emptied_sandbox_and_no_more(volume: AdminFolder) -> None:
    with_sandbox(volume)
    (volume.sandboxes / "tiger").mkdir()
    (volume.sandboxes / "tiger" / "file").write_text("f")
    assert volume.step("remove", "lion").code == 0
    assert volume.step("remove", "lion").code == 0  # already gone
    assert volume.step("remove", "tiger").code != 0  # not emptied
    assert sorted(os.listdir(volume.sandboxes)) == [".runner", "tiger"]


def test_an_unknown_step_exits(volume: AdminFolder) -> None:
    ran = volume.step("format", "lion")
    assert ran.code == Exit.NO_STEP
    assert ran.stderr == b"admin.sh: no step format\n"
