"""A request's files that the sandbox's own state keeps out: every other file is written, the
changed cyber-dojo.sh runs, and the result names the ones that were not (`unwritten`), on the
busybox image and on the Debian one (GNU tools), in both run modes."""

from __future__ import annotations

import pytest

from tests.conftest import PYTHON, SHELL
from tests.sandbox.conftest import Ops

# A summary line the python image's rules call green; exit 0 is green on the shell image.
GREEN = "echo '1 passed in 0.01s'\n"

OBSTACLES = (
    "mkdir ro nd && echo old > ro/old.txt && echo locked > ro/locked.txt\n"
    "chmod 444 ro/locked.txt && chmod 555 ro && echo kept > nd/kept\n"
    "ln -s /nowhere dangling && ln -s /etc etc && ln -s /sandboxes/tiger tiger\n"
)

# In tar order: files before and after each one that cannot be written, cyber-dojo.sh among
# them (busybox's tar used to stop at the first failure and run the old one).
REQUEST = {
    "a.txt": "a\n",
    "ro/new.txt": "new\n",
    "ro/old.txt": "written\n",
    "ro/locked.txt": "unlocked\n",
    "nd": "a file\n",
    "dangling/x": "x\n",
    "etc/passwd": "root::0:0::/:/bin/sh\n",
    "tiger/planted.txt": "planted\n",
    "cyber-dojo.sh": "cat a.txt ro/old.txt z.txt; ls ro nd\n" + GREEN,
    "z.txt": "z\n",
}
UNWRITTEN = ["dangling/x", "etc/passwd", "nd", "ro/locked.txt", "ro/new.txt", "tiger/planted.txt"]


@pytest.mark.parametrize("image", [SHELL, PYTHON])
def test_files_that_cannot_be_written_are_named_and_the_rest_written_and_run(
    ops: Ops, kata: str, image: str
) -> None:
    ops.new_avatar(kata, "tiger", image, {"cyber-dojo.sh": "ls -A"})
    ops.new_avatar(kata, "lion", image, {"cyber-dojo.sh": OBSTACLES})
    assert ops.run(kata, "lion", image)["status"] == 0

    result = ops.run(kata, "lion", image, REQUEST)
    assert result["unwritten"] == UNWRITTEN
    assert result["stdout"]["content"] == (
        "a\nwritten\nz\nnd:\nkept\n\nro:\nlocked.txt\nold.txt\n1 passed in 0.01s\n"
    )
    assert (result["status"], result["colour"], result["faulty_reason"]) == (0, "green", None)
    tiger = ops.run(kata, "tiger", image)
    assert tiger["stdout"]["content"] == "cyber-dojo.sh\n" and tiger["unwritten"] == []
    check = ops.run(
        kata, "lion", image, {"cyber-dojo.sh": "cat ro/locked.txt; grep -c x /etc/passwd"}
    )
    assert check["stdout"]["content"].startswith("locked\n") and check["unwritten"] == []

    # Once the learner's next run clears the way, the same request writes every file.
    repair = "chmod 755 ro && chmod 644 ro/locked.txt && rm -r nd dangling etc tiger\n"
    assert ops.run(kata, "lion", image, {"cyber-dojo.sh": repair})["status"] == 0
    again = ops.run(kata, "lion", image, {**REQUEST, "cyber-dojo.sh": "cat nd */*; ls -A\n"})
    assert again["unwritten"] == []
    assert again["stdout"]["content"] == (
        "a file\nx\nroot::0:0::/:/bin/sh\nlocked.txt\nnew\nwritten\nplanted\n"
        "a.txt\ncyber-dojo.sh\ndangling\netc\nnd\nro\ntiger\nz.txt\n"
    ).replace("locked.txt\n", "unlocked\n", 1)


@pytest.mark.parametrize("image", [SHELL, PYTHON])
def test_a_request_with_a_long_list_of_deletions_names_its_unwritten_files_too(
    ops: Ops, kata: str, image: str
) -> None:
    many = [f"{n:04d}-" + "x" * 100 for n in range(700)]  # too long for arguments
    ops.new_avatar(kata, "lion", image, {"cyber-dojo.sh": "mkdir -p nd/in ro; chmod 555 ro"})
    assert ops.run(kata, "lion", image)["status"] == 0
    changed = {"a.txt": "a", "nd": "n", "ro/x": "x", "cyber-dojo.sh": "ls -A; " + GREEN, "z": ""}
    result = ops.run(kata, "lion", image, changed, many)
    assert result["unwritten"] == ["nd", "ro/x"]
    assert result["stdout"]["content"] == "a.txt\ncyber-dojo.sh\nnd\nro\nz\n1 passed in 0.01s\n"
    assert result["colour"] == "green"


@pytest.mark.parametrize("image", [SHELL, PYTHON])
def test_a_symlink_or_fifo_where_a_file_goes_is_replaced_never_written_through(
    ops: Ops, kata: str, image: str
) -> None:
    ops.new_avatar(kata, "tiger", image, {"secret.txt": "tiger secret\n"})
    plant = (
        "echo target > target.txt && ln -s target.txt to-target && mkfifo fifo && mkdir empty\n"
        "ln -s /sandboxes/tiger/secret.txt steal.txt && ln -s /nowhere dangling.txt\n"
    )
    ops.new_avatar(kata, "lion", image, {"cyber-dojo.sh": plant})
    assert ops.run(kata, "lion", image)["status"] == 0
    names = ["to-target", "fifo", "empty", "steal.txt", "dangling.txt"]
    look = "for f in *.txt to-target fifo empty; do [ -L $f ] && echo link $f; cat $f; done\n"
    result = ops.run(kata, "lion", image, {**{n: n + "\n" for n in names}, "cyber-dojo.sh": look})
    assert result["unwritten"] == []
    assert result["stdout"]["content"] == (
        "dangling.txt\nsteal.txt\ntarget\nto-target\nfifo\nempty\n"
    )
    secret = ops.run(kata, "tiger", image, {"cyber-dojo.sh": "cat secret.txt"})
    assert secret["stdout"]["content"] == "tiger secret\n"
