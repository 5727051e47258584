"""The scripts' text and their one table of exit codes."""

from __future__ import annotations

import hashlib
import re
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pytest

from sandbox import scripts
from sandbox.scripts import Exit

SOURCES = ("run.sh", "admin.sh")


def source(name: str) -> str:
    return resources.files("sandbox").joinpath(name).read_text()


@pytest.mark.parametrize("name", SOURCES)
def test_a_script_exits_only_with_codes_of_the_table(name: str) -> None:
    text = source(name)
    named = set(re.findall(r"\$\{?EXIT_([A-Z_]+)", text))
    assert named and named <= {code.name for code in Exit}
    assert re.findall(r"\bexit +[1-9][0-9]*", text) == []


def test_the_disk_script_exits_with_the_table_s_codes_by_name() -> None:
    text = source("disk.sh")
    named = set(re.findall(r"\$\{?EXIT_([A-Z_]+)", text))
    assert {"NO_DISK_IMAGE", "HOST_FULL", "ATTACHED_TWICE", "NO_STEP"} <= named
    assert named <= {code.name for code in Exit}
    assert re.findall(r"\b(?:exit|return) +(?:9[0-9]|1[0-9][0-9])\b", text) == []


def test_every_script_runs_after_the_whole_table() -> None:
    texts = (scripts.RUN_SCRIPT, scripts.ADMIN_SCRIPT, scripts.WATCHER_SCRIPT, scripts.DISK_SCRIPT)
    for text in texts:
        table = text.splitlines()[1]
        assert table.startswith("readonly ")
        for code in Exit:
            assert re.search(rf"\bEXIT_{code.name}={code.value}\b", table)


def test_the_launcher_exits_with_its_own_code() -> None:
    assert f"exit {Exit.NO_SCRIPT.value};" in scripts.LAUNCHER
    assert "EXIT_" not in scripts.LAUNCHER  # it runs before any preamble


def test_the_run_script_file_is_named_by_its_text_as_it_runs() -> None:
    assert scripts.RUN_SCRIPT.endswith(source("run.sh"))
    production = scripts.preamble(
        WORK="/run/runner/work",
        PROC="/proc",
        CGROUP="/sys/fs/cgroup",
        SCRATCH="/tmp /dev/shm /dev/mqueue /run/runner",
    )
    assert scripts.RUN_SCRIPT.startswith(production)
    digest = hashlib.sha256(scripts.RUN_SCRIPT.encode()).hexdigest()[:12]
    assert f"run-{digest}.sh" == scripts.RUN_SCRIPT_FILE
    assert f"/sandboxes/.runner/run-{digest}.sh" == scripts.RUN_SCRIPT_PATH
    assert scripts.run_script(work="/elsewhere") != scripts.RUN_SCRIPT


def test_the_preamble_quotes_its_values() -> None:
    assert "readonly A='a b' B=5000\n" in scripts.preamble(A="a b", B=5000)


def test_the_install_steps_name_this_run_script() -> None:
    assert scripts.kata_step("NOW") == ["kata", "NOW", scripts.RUN_SCRIPT_FILE]
    assert scripts.install_step() == ["script", scripts.RUN_SCRIPT_FILE]


def test_make_lint_runs_shellcheck_on_every_shell_script() -> None:
    root = Path(__file__).resolve().parents[2]
    lint = (root / "Makefile").read_text().split("\nlint:")[1].split("\n\n")[0]
    checked = re.findall(r"\S+\.sh", lint)
    for path in sorted(root.glob("*/*.sh")):
        written = f".run/shellcheck/{path.name}" if path.parent.name == "sandbox" else None
        mine = str(path.relative_to(root))
        assert written in checked or any(fnmatch(mine, pattern) for pattern in checked), mine
