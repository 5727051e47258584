"""The allowed import directions between the packages, read from the source.

- traffic_lights/ is pure: the colour rules and the lambda translator import only the
  standard library;
- runner/ is what every side shares: it imports neither api/ nor worker/ nor sandbox/ (nor
  reaper/, client/, bench/);
- client/ is for the web server: it imports only requests and the standard library;
- api/ never talks to Docker: it imports no worker/, no sandbox/, no reaper/ and no docker;
- reaper/ may use runner/ and sandbox/, never worker/ (worker/ schedules and runs it);
- only sandbox/docker_engine.py imports docker: every other Docker call goes through it;
- no module imports itself round a circle, not even inside a function.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "traffic_lights",
    "sandbox",
    "runner",
    "worker",
    "api",
    "reaper",
    "client",
    "bench",
    "harness",
    "tests",
)
OURS = frozenset(PACKAGES)
STANDARD = frozenset(sys.stdlib_module_names) | {"__future__"}


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """The top-level names of the modules a file imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports() -> dict[str, set[str]]:
    """Each of our modules (the tests' aside), and which of our modules it imports."""
    modules = {module_name(path): path for package in PACKAGES[:-1] for path in sources(package)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:  # `from sandbox import disk` imports sandbox.disk
                    inner = f"{node.module}.{alias.name}"
                    found.add(inner if inner in modules else node.module)
        graph[name] = {other for other in found if other in modules and other != name}
    return graph


def breaking(package: str, allowed: frozenset[str] | None, forbidden: frozenset[str]) -> list[str]:
    """The imports in package's files outside `allowed` (when given) or inside `forbidden`."""
    found = []
    for path in sources(package):
        for name in sorted(imported(path)):
            if name in forbidden or (allowed is not None and name not in allowed):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize(
    ("package", "allowed", "forbidden"),
    [
        ("traffic_lights", STANDARD | {"traffic_lights"}, frozenset()),
        ("sandbox", None, frozenset({"redis", "celery", "worker", "api", "reaper", "client"})),
        (
            "runner",
            None,
            frozenset({"api", "worker", "sandbox", "reaper", "client", "bench", "docker"}),
        ),
        ("client", STANDARD | {"client", "requests"}, frozenset()),
        ("api", None, frozenset({"worker", "sandbox", "reaper", "docker"})),
        ("reaper", None, frozenset({"worker", "api", "client", "bench"})),
    ],
)
def test_a_package_imports_only_what_its_layer_allows(
    package: str, allowed: frozenset[str] | None, forbidden: frozenset[str]
) -> None:
    assert breaking(package, allowed, forbidden) == []


def test_only_the_engine_module_imports_docker() -> None:
    engine = ROOT / "sandbox" / "docker_engine.py"
    found = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in sources(package)
        if path != engine and "docker" in imported(path)
    ]
    assert found == []
    assert "docker" in imported(engine)


def loaded(modules: str, packages: tuple[str, ...]) -> list[str]:
    """Which modules of the given packages a fresh interpreter holds once it imports modules."""
    probe = (
        f"import sys, {modules}; "
        f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {packages!r})))"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()


def test_the_api_loads_no_docker_module_when_it_runs() -> None:
    assert loaded("api.app", ("docker",)) == []


def test_the_sandbox_loads_no_redis_nor_celery_module_when_it_runs() -> None:
    modules = "sandbox.operations, sandbox.cyber_dojo_run, sandbox.disk"
    assert loaded(modules, ("redis", "celery")) == []
    assert loaded(modules, ("docker",)) != []  # the probe sees what it looks for


def test_no_module_imports_itself_round_a_circle() -> None:
    graph = module_imports()
    assert {"worker.app", "reaper.reaping", "traffic_lights.rules"} <= set(graph)
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the circle


def test_no_package_imports_itself_round_a_circle() -> None:
    packages: dict[str, set[str]] = {}
    for name, others in module_imports().items():
        top = name.split(".")[0]
        packages.setdefault(top, set()).update(o.split(".")[0] for o in others)
    graphlib.TopologicalSorter({p: o - {p} for p, o in packages.items()}).prepare()


def test_the_cycle_check_sees_a_circle() -> None:
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter({"worker.app": {"reaper"}, "reaper": {"worker.app"}}).prepare()


def test_the_checks_see_a_breaking_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import docker\nfrom sandbox.engine import Engine\nfrom . import sibling\n")
    assert imported(bad) == {"docker", "sandbox"}
