"""cyber-dojo start-point-style scripts through /run_cyber_dojo_sh, on the project's images
built to cyber-dojo's augmenter contract: run as cyber-dojo's runner runs them (bash, the
sandbox user, /sandbox, the home with the fs cleaners, an executable /tmp), coloured by a
lambda of the kind the start-points carry."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runner.identifiers import cyber_dojo_sandbox
from tests.conftest import PYTHON, SHELL
from tests.pipeline.test_cyber_dojo import TEST, run
from tests.pipeline.test_cyber_dojo_start_point_kinds import preamble
from tests.stack import Stack

# A start-point-style cyber-dojo.sh of the python-pytest kind: set -e, the fs cleaners
# sourced, bash functions, a trap, a report folder, mypy, coverage and pycodestyle.
PYTEST_SH = (
    preamble(".pytest_cache", ".mypy_cache")
    + """\
export PYTEST_ADDOPTS="-v"
echo MyPy
mypy *.py | tee ${REPORT_DIR}/mypy.txt || true
echo
coverage run --source=${CYBER_DOJO_SANDBOX} --module pytest --capture=tee-sys \\
  --random-order-bucket=global *test*.py
echo
coverage report --show-missing | tee ${REPORT_DIR}/coverage.txt
echo
pycodestyle ${CYBER_DOJO_SANDBOX} --ignore E302,E305,W293 --max-line-length=80 \\
  > ${REPORT_DIR}/style.txt
"""
)
# A lambda of the kind python-pytest's start-point carries.
PYTEST_LAMBDA = """
lambda { |stdout, stderr, status|
  output = stdout + stderr
  return :amber if /=== ERRORS ===/.match(output)
  return :amber if /=== FAILURES ===/.match(output) && /:[0-9]+: (Name|Type)Error/.match(output)
  return :green if /=== (\\d+) passed/.match(output)
  return :red
}
"""
HIKER = {
    "red": "def answer():\n    return 6 * 9\n",
    "amber": "def answer():\n    return 6 * 9sd\n",
    "green": "def answer():\n    return 6 * 7\n",
}
# The environment cyber-dojo's runner gives a run, as the run sees it.
ENVIRONMENT = """\
id -u; id -g; pwd; echo "$HOME"; echo "$CYBER_DOJO_SANDBOX"; echo "$CYBER_DOJO_ID"
echo "$CYBER_DOJO_IMAGE_NAME"; echo "${BASH_VERSION:+bash}"
ls ~/cyber_dojo_fs_cleaners.sh
printf '#!/bin/sh\\necho executable tmp\\n' > /tmp/x.sh && chmod +x /tmp/x.sh && /tmp/x.sh
touch ~/written && echo home writable
"""


@pytest.fixture
def cyber_dojo_id(stack: Stack) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def new() -> str:
        made.append(secrets.token_hex(3))
        return made[-1]

    yield new
    for each in made:
        stack.done("DELETE", f"/katas/{cyber_dojo_sandbox(each)[0]}")


def pytest_run(stack: Stack, kata: str, colour: str, **manifest: Any) -> dict[str, Any]:
    sent = {"cyber-dojo.sh": PYTEST_SH, "test_hiker.py": TEST, "hiker.py": HIKER[colour]}
    return run(stack, kata, sent, PYTHON, rag_lambda=PYTEST_LAMBDA, **manifest)


@pytest.mark.parametrize("colour", ["red", "amber", "green"])
def test_a_python_pytest_start_point_goes_each_colour_by_its_lambda(
    stack: Stack, cyber_dojo_id: Callable[[], str], colour: str
) -> None:
    result = pytest_run(stack, cyber_dojo_id(), colour)
    assert result["outcome"] == colour, result
    assert result["log"] == {}
    # Its report files come back (past a failed test run, set -e stops the script before
    # coverage's report and pycodestyle's); coverage's data file (binary) and the caches do not.
    reports = {"report/mypy.txt"}
    if colour == "green":
        reports |= {"report/coverage.txt", "report/style.txt"}
    assert set(result["created"]) == reports, result["created"]
    assert all(not name.startswith(".") for name in result["created"]), result["created"]


def test_a_python_pytest_start_point_times_out(
    stack: Stack, cyber_dojo_id: Callable[[], str]
) -> None:
    kata = cyber_dojo_id()
    sent = {
        "cyber-dojo.sh": "sleep 10\n" + PYTEST_SH,
        "test_hiker.py": TEST,
        "hiker.py": HIKER["green"],
    }
    result = run(stack, kata, sent, PYTHON, rag_lambda=PYTEST_LAMBDA, max_seconds=1)
    assert (result["outcome"], result["status"]) == ("timed_out", "142")


@pytest.mark.parametrize("image", [SHELL, PYTHON])
def test_a_run_has_cyber_dojos_environment(
    stack: Stack, cyber_dojo_id: Callable[[], str], image: str
) -> None:
    kata = cyber_dojo_id()
    result = run(stack, kata, {"cyber-dojo.sh": ENVIRONMENT}, image)
    assert result["stdout"]["content"].splitlines() == [
        "41966",
        "51966",
        "/sandbox",
        "/home/sandbox",
        "/sandbox",
        kata,
        image,
        "bash",
        "/home/sandbox/cyber_dojo_fs_cleaners.sh",
        "executable tmp",
        "home writable",
    ], result
    # Nothing of a run outlives it: the home is the image's again.
    again = run(stack, kata, {"cyber-dojo.sh": "ls -A ~ | grep -c written || true"}, image)
    assert again["stdout"]["content"] == "0\n"


def test_a_bash_start_point_sources_the_fs_cleaners_and_binary_files_stay_out(
    stack: Stack, cyber_dojo_id: Callable[[], str]
) -> None:
    script = (
        "set -e\nsource ~/cyber_dojo_fs_cleaners.sh\n"
        "function made() { echo text > text.txt; printf 'a\\0b' > binary.dat; mkdir -p gone; }\n"
        "made\ncyber_dojo_delete_dirs gone\ncyber_dojo_delete_files nothing-here\n"
        "trap 'echo bye' EXIT\nexit 1\n"
    )
    result = run(stack, cyber_dojo_id(), {"cyber-dojo.sh": script}, SHELL)
    assert (result["status"], result["stdout"]["content"]) == ("1", "bye\n")
    assert result["created"] == {"text.txt": {"content": "text\n", "truncated": False}}
