"""The exit codes the agent (agent/) and disk.sh share with the worker, and disk.sh as it runs.

disk.sh runs as a preamble rendered here, then the file's text: the preamble assigns every exit
code of one table. The agent's main.go has the same numbers; tests/unit/test_scripts.py checks
that they agree.
"""

from __future__ import annotations

import shlex
import sys
from enum import IntEnum, unique
from importlib import resources
from pathlib import Path


@unique
class Exit(IntEnum):
    """An exit code of the agent or disk.sh, each with one meaning."""

    # From 90: clear of a command's own failures (1, 2), of the engine's (125 to 127) and of
    # a signal's (128 + n), so that the worker can tell them apart.
    NO_SANDBOX = 91  # the agent: the avatar's sandbox folder (or the kata's layout) is missing
    BAD_REQUEST = 92  # the agent: the request on stdin could not be read
    NO_LAYOUT = 93  # the agent's admin: the volume has no .runner folder (new_kata never ran)
    NOT_EMPTIED = 95  # the agent's admin: the sandbox could not be emptied
    NOT_FILLED = 96  # the agent's admin: the files could not be written into the sandbox
    NO_STEP = 97  # the agent, disk.sh: no such step
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


def _text(name: str) -> str:
    return resources.files("sandbox").joinpath(name).read_text()


# disk.sh takes its paths as arguments: a kata's disk is made by a helper container of its own.
DISK_SCRIPT = preamble() + _text("disk.sh")


def write_scripts(folder: Path) -> None:
    """Writes disk.sh as it runs into folder: what `make lint` runs shellcheck on."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "disk.sh").write_text(DISK_SCRIPT)


if __name__ == "__main__":
    write_scripts(Path(sys.argv[1]))
