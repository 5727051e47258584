"""The exit codes the agent and disk.sh share with the worker, and disk.sh's text."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

from sandbox import scripts
from sandbox.scripts import Exit

ROOT = Path(__file__).resolve().parents[2]


def source(name: str) -> str:
    return resources.files("sandbox").joinpath(name).read_text()


def test_the_agent_exits_with_the_tables_codes() -> None:
    main = (ROOT / "agent" / "main.go").read_text()
    consts = dict(re.findall(r"\bexit([A-Z]\w+) += (\d+)", main))
    assert consts, "agent/main.go names its exit codes exitName = N"
    for name, value in consts.items():
        code = Exit[re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()]
        assert code.value == int(value), name
    used = {
        name
        for path in (ROOT / "agent").glob("*.go")
        for name in re.findall(r"\bexit([A-Z]\w+)\b", path.read_text())
    }
    assert used - {"Status"} <= set(consts)  # exitStatus: a function


def test_the_disk_script_exits_with_the_table_s_codes_by_name() -> None:
    text = source("disk.sh")
    named = set(re.findall(r"\$\{?EXIT_([A-Z_]+)", text))
    assert {"NO_DISK_IMAGE", "HOST_FULL", "ATTACHED_TWICE", "NO_STEP"} <= named
    assert named <= {code.name for code in Exit}
    assert re.findall(r"\b(?:exit|return) +(?:9[0-9]|1[0-9][0-9])\b", text) == []


def test_disk_sh_runs_after_the_whole_table() -> None:
    table = scripts.DISK_SCRIPT.splitlines()[1]
    assert table.startswith("readonly ")
    for code in Exit:
        assert re.search(rf"\bEXIT_{code.name}={code.value}\b", table)


def test_the_preamble_quotes_its_values() -> None:
    assert "readonly A='a b' B=5000\n" in scripts.preamble(A="a b", B=5000)


def test_make_lint_runs_shellcheck_on_every_shell_script() -> None:
    root = ROOT
    lint = (root / "Makefile").read_text().split("\nlint:")[1].split("\n\n")[0]
    checked = re.findall(r"\S+\.sh", lint)
    for path in sorted(root.glob("*/*.sh")):
        written = f".run/shellcheck/{path.name}" if path.parent.name == "sandbox" else None
        mine = str(path.relative_to(root))
        assert written in checked or any(fnmatch(mine, pattern) for pattern in checked), mine
