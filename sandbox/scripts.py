"""The shell scripts the worker runs in containers (sandbox/run.sh, sandbox/admin.sh,
sandbox/watcher.sh, sandbox/disk.sh), and the exit codes they share with it.

Each script runs as a preamble rendered here, then the file's text: the preamble assigns every
exit code of one table, and the paths the script works on, so that a test can point them at a
temporary folder. The run container's environment stays the learner's: nothing is exported.
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from enum import IntEnum, unique
from importlib import resources
from pathlib import Path

from runner.identifiers import SANDBOX_GID
from sandbox.limits import BOOKKEEPING


@unique
class Exit(IntEnum):
    """An exit code of run.sh, admin.sh, disk.sh or the launcher, each with one meaning."""

    # From 90: clear of a command's own failures (1, 2), of the engine's (125 to 127) and of
    # a signal's (128 + n), so that the worker can tell them apart.
    NO_WORK_FOLDER = 90  # run.sh: its bookkeeping folder could not be made
    NO_SANDBOX = 91  # run.sh, admin.sh: the avatar's sandbox folder does not exist
    BAD_REQUEST = 92  # run.sh, admin.sh: the tar on stdin could not be unpacked
    NO_LAYOUT = 93  # admin.sh: the volume has no .runner folder (new_kata never ran)
    NO_SCRIPT = 94  # the launcher: this version of the run script is not in the volume
    NOT_EMPTIED = 95  # admin.sh: the sandbox could not be emptied
    NOT_FILLED = 96  # admin.sh: the files could not be copied into the sandbox
    NO_STEP = 97  # admin.sh, disk.sh: no such step
    NOT_KEPT = 98  # run.sh's drainers: the output could not be kept (no space left)
    NO_DISK_IMAGE = 99  # disk.sh: the kata's disk image is not there (the kata was never made)
    HOST_FULL = 100  # disk.sh: the docker host has no room for the kata's disk
    ATTACHED_TWICE = 101  # disk.sh: the disk image is attached to more than one loop device


def preamble(**values: str | int) -> str:
    """Readonly shell variables: EXIT_<NAME> for every exit code, then the values given."""
    codes = " ".join(f"EXIT_{code.name}={code.value}" for code in Exit)
    given = " ".join(f"{name}={shlex.quote(str(value))}" for name, value in values.items())
    # Three lines always (a script's line is its file's plus 3); a bare `readonly` would list
    # every readonly variable on stdout.
    paths = f"readonly {given}" if given else "# no paths: the script takes them as arguments"
    return (
        "# shellcheck disable=SC2034  # every script has the whole table, and uses some of it\n"
        f"readonly {codes}\n{paths}\n"
    )


# The places of a run container that a run can write outside its sandbox (the root is
# read-only): what a run leaves there is removed before a kata's live container serves again.
SCRATCH = f"/tmp /dev/shm /dev/mqueue {BOOKKEEPING}"


def run_script(
    work: str = f"{BOOKKEEPING}/work",
    proc: str = "/proc",
    cgroup: str = "/sys/fs/cgroup",
    scratch: str = SCRATCH,
) -> str:
    """run.sh as it runs: its bookkeeping folder, where it reads the processes (which it
    kills) and the memory cgroup (for the OOM count), and the writable places it empties."""
    return preamble(WORK=work, PROC=proc, CGROUP=cgroup, SCRATCH=scratch) + _text("run.sh")


def watcher_script(
    proc: str = "/proc", cgroup: str = "/sys/fs/cgroup", scratch: str = SCRATCH
) -> str:
    """watcher.sh as it runs in a kata's live container: where it reads the processes and the
    cgroups, and the writable places it finds empty, or not."""
    return preamble(PROC=proc, CGROUP=cgroup, SCRATCH=scratch) + _text("watcher.sh")


def admin_script(sandboxes: str = "/sandboxes", staging: str = "/tmp/in") -> str:
    """admin.sh as it runs: where the kata's volume is mounted, and its staging folder."""
    return preamble(
        SANDBOXES=sandboxes,
        RUNNER_FOLDER=f"{sandboxes}/.runner",
        SANDBOX_GID=SANDBOX_GID,
        STAGING=staging,
    ) + _text("admin.sh")


def _text(name: str) -> str:
    return resources.files("sandbox").joinpath(name).read_text()


RUN_SCRIPT = run_script()
# The run script lives in the kata's volume, in root-owned .runner, one file per version of
# its text (the preamble too): a run container's command then holds a one-line launcher
# instead of the whole script, which the engine, containerd and runc would otherwise copy,
# store and parse (about 5 ms of the machine's CPU per run). admin.sh installs it whole or not
# at all, when the kata is made or, for a volume without this version, before a run is tried
# again.
RUN_SCRIPT_FILE = f"run-{hashlib.sha256(RUN_SCRIPT.encode()).hexdigest()[:12]}.sh"
RUN_SCRIPT_PATH = f"/sandboxes/.runner/{RUN_SCRIPT_FILE}"
# Arguments: the run script's path, then its own.
LAUNCHER = f'[ -r "$1" ] || exit {Exit.NO_SCRIPT.value}; f=$1; shift; . "$f"'
ADMIN_SCRIPT = admin_script()
WATCHER_SCRIPT = watcher_script()
# disk.sh takes its paths as arguments: a kata's disk is made by a helper container of its own.
DISK_SCRIPT = preamble() + _text("disk.sh")


def kata_step(now: str) -> list[str]:
    """admin.sh's arguments that lay a kata's volume out and install this run script (its
    stdin: RUN_SCRIPT)."""
    return ["kata", now, RUN_SCRIPT_FILE]


def install_step() -> list[str]:
    """admin.sh's arguments that install this run script in a volume laid out without it (its
    stdin: RUN_SCRIPT)."""
    return ["script", RUN_SCRIPT_FILE]


def write_scripts(folder: Path) -> None:
    """Writes the scripts as they run into folder: what `make lint` runs shellcheck on."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.sh").write_text(RUN_SCRIPT)
    (folder / "admin.sh").write_text(ADMIN_SCRIPT)
    (folder / "watcher.sh").write_text(WATCHER_SCRIPT)
    (folder / "disk.sh").write_text(DISK_SCRIPT)


if __name__ == "__main__":
    write_scripts(Path(sys.argv[1]))
