"""The shell scripts the worker runs in containers (worker/run.sh, worker/admin.sh), the
launcher of the run script, and the exit codes the worker reads."""

from __future__ import annotations

import hashlib
from enum import IntEnum, unique
from importlib import resources


@unique
class Exit(IntEnum):
    """An exit code of run.sh, admin.sh or the launcher that the worker reads."""

    NO_SANDBOX = 91  # run.sh, admin.sh: the avatar's sandbox folder does not exist
    NO_LAYOUT = 93  # admin.sh: the volume has no .runner folder (new_kata never ran)
    NO_SCRIPT = 94  # the launcher: this version of the run script is not in the volume


RUN_SCRIPT = resources.files("worker").joinpath("run.sh").read_text()
# The run script lives in the kata's volume, in root-owned .runner, one file per version of
# its text: a run container's command then holds a one-line launcher instead of the whole
# script, which the engine, containerd and runc would otherwise copy, store and parse (about
# 5 ms of the machine's CPU per run). admin.sh installs it whole or not at all, when the kata
# is made or, for a volume without this version, before a run is tried again.
RUN_SCRIPT_FILE = f"run-{hashlib.sha256(RUN_SCRIPT.encode()).hexdigest()[:12]}.sh"
RUN_SCRIPT_PATH = f"/sandboxes/.runner/{RUN_SCRIPT_FILE}"
# Arguments: the run script's path, then its own.
LAUNCHER = f'[ -r "$1" ] || exit {Exit.NO_SCRIPT.value}; f=$1; shift; . "$f"'
ADMIN_SCRIPT = resources.files("worker").joinpath("admin.sh").read_text()


def kata_step(now: str) -> list[str]:
    """admin.sh's arguments that lay a kata's volume out and install this run script (its
    stdin: RUN_SCRIPT)."""
    return ["kata", now, RUN_SCRIPT_FILE]


def install_step() -> list[str]:
    """admin.sh's arguments that install this run script in a volume laid out without it (its
    stdin: RUN_SCRIPT)."""
    return ["script", RUN_SCRIPT_FILE]
