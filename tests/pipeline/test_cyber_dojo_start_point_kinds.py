"""One start-point of each kind cyber-dojo has for python (unittest, plain asserts), bash
(bats, shunit2, bash_unit) and C (gcc with assert), through /run_cyber_dojo_sh on the
project's image for it, made red, amber and green as cyber-dojo's own start-point checks make
them (the start files; `6 * 9` made `6 * 9sd`; made `6 * 7`). Each is coloured by its image's
lambda (images/<name>/red_amber_green.rb): sent as the manifest's `rag_lambda`, as a web
server sends the start-point's, or, for gcc-assert, whose start-point carries none, read from
the image. The scripts and tests are written here, in the shape each start-point's are."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runner.identifiers import cyber_dojo_sandbox
from tests.pipeline.test_cyber_dojo import run
from tests.stack import Stack

IMAGES = Path(__file__).resolve().parents[2] / "images"
ANSWERS = {"red": "6 * 9", "amber": "6 * 9sd", "green": "6 * 7"}


def preamble(*caches: str) -> str:
    """The head of the start-points' cyber-dojo.sh: set -e, the fs cleaners, a report folder
    made empty as the run begins, the caches removed as it ends."""
    deletions = "".join(f"  cyber_dojo_delete_dirs {cache}\n" for cache in caches)
    return (
        "set -e\nsource ~/cyber_dojo_fs_cleaners.sh\n"
        "export REPORT_DIR=${CYBER_DOJO_SANDBOX}/report\n"
        "function cyber_dojo_enter()\n{\n  cyber_dojo_reset_dirs ${REPORT_DIR}\n}\n"
        f"function cyber_dojo_exit()\n{{\n  :\n{deletions}}}\n"
        "cyber_dojo_enter\ntrap cyber_dojo_exit EXIT SIGTERM\n"
    )


def python_script(coverage: str, module: str) -> str:
    """The python start-points' cyber-dojo.sh: mypy, the tests under coverage, pycodestyle."""
    return preamble(".mypy_cache") + (
        "echo MyPy\n"
        "mypy *.py | tee ${REPORT_DIR}/mypy.txt || true\n"
        f"echo\n{coverage} run --source=${{CYBER_DOJO_SANDBOX}} {module}*test*.py\n"
        f"echo\n{coverage} report --show-missing | tee ${{REPORT_DIR}}/coverage.txt\n"
        "echo\npycodestyle ${CYBER_DOJO_SANDBOX} --ignore E302,E305,W293 --max-line-length=80"
        " > ${REPORT_DIR}/style.txt\n"
    )


# A class named in its own body's annotations, as the python start-points' hiker.py does: it
# needs Python 3.14's lazily evaluated annotations.
PYTHON_HIKER = (
    "class Hiker:\n\n    def answer(self: Hiker) -> int:\n        return {answer}\n\n\n"
    "def answer() -> int:\n    return Hiker().answer()\n"
)
BASH_HIKER = "#!/bin/bash\n\nanswer()\n{{\n  echo $(({answer}))\n}}\n"
MAKEFILE = """\
CFLAGS += -I. -std=c18 -Wall -Wextra -Wstrict-prototypes -O --coverage
C_FILES = $(wildcard *.c)

.PHONY: test.output
test.output: tests
\t@./tests

tests: makefile $(C_FILES) $(wildcard *.h)
\t@gcc $(CFLAGS) $(C_FILES) -o $@
"""


@dataclass(frozen=True)
class StartPoint:
    name: str  # the image's folder under images/, and the start-point's name
    files: dict[str, str]  # the hiker file's text has {answer} where the sum goes
    hiker: str
    reports_on_green: set[str] = field(default_factory=set)
    lambda_in_manifest: bool = True

    @property
    def image(self) -> str:
        return f"cyber-dojo-local/{self.name}:latest"

    def sent(self, colour: str) -> dict[str, str]:
        files = dict(self.files)
        files[self.hiker] = files[self.hiker].format(answer=ANSWERS[colour])
        return files

    def manifest(self) -> dict[str, str]:
        if not self.lambda_in_manifest:
            return {}
        return {"rag_lambda": (IMAGES / self.name / "red_amber_green.rb").read_text()}


START_POINTS = [
    StartPoint(
        "python-unittest",
        {
            "cyber-dojo.sh": python_script("coverage", "--module unittest "),
            "hiker.py": PYTHON_HIKER,
            "test_hiker.py": (
                "import unittest\n\nfrom hiker import answer\n\n\n"
                "class HikerTest(unittest.TestCase):\n\n"
                "    def test_life_the_universe_and_everything(self):\n"
                "        self.assertEqual(42, answer())\n\n\n"
                "if __name__ == '__main__':\n    unittest.main()  # pragma: no cover\n"
            ),
        },
        "hiker.py",
        {"report/mypy.txt", "report/coverage.txt", "report/style.txt"},
    ),
    StartPoint(
        "python-assert",
        {
            "cyber-dojo.sh": python_script("coverage3", ""),
            "hiker.py": PYTHON_HIKER,
            "test_hiker.py": (
                "from hiker import answer\n\n\n"
                "def test_life_the_universe_and_everything():\n    assert answer() == 42\n\n\n"
                "if __name__ == '__main__':\n"
                "    test_life_the_universe_and_everything()\n    print('All tests passed')\n"
            ),
        },
        "hiker.py",
        {"report/mypy.txt", "report/coverage.txt", "report/style.txt"},
    ),
    StartPoint(
        "bash-bats",
        {
            "cyber-dojo.sh": "chmod 700 *.sh\n./test_*.sh\n",
            "hiker.sh": BASH_HIKER,
            "test_hiker.sh": (
                "#!/usr/bin/env bats\n\nsource ./hiker.sh\n\n"
                '@test "the answer is 42" {\n  local actual=$(answer)\n'
                '  [ "$actual" == "42" ]\n}\n'
            ),
        },
        "hiker.sh",
    ),
    StartPoint(
        "bash-shunit2",
        {
            "cyber-dojo.sh": "export SHUNIT_COLOR=none\nchmod +x *.sh\n./test_*.sh\n",
            "hiker.sh": BASH_HIKER,
            "test_hiker.sh": (
                "#!/bin/bash\n\nsource ./hiker.sh\n\n"
                "test_the_answer_is_42()\n{\n  local actual=$(answer)\n"
                "  assertEquals 42 ${actual}\n}\n\nsource shunit2\n"
            ),
        },
        "hiker.sh",
    ),
    StartPoint(
        "bash-unit",
        {
            "cyber-dojo.sh": "bash_unit ./test_*.sh\n",
            "hiker.sh": BASH_HIKER,
            "test_hiker.sh": (
                "#!/bin/bash\n\nsource ./hiker.sh\n\n"
                "test_the_answer_is_42()\n{\n  local actual=$(answer)\n"
                "  assert_equals 42 ${actual}\n}\n"
            ),
        },
        "hiker.sh",
    ),
    StartPoint(
        "gcc-assert",
        {
            "cyber-dojo.sh": preamble() + "\nmake\ngcovr --root . > report/coverage.txt\n",
            "makefile": MAKEFILE,
            "hiker.h": "#ifndef HIKER_H\n#define HIKER_H\n\nint answer(void);\n\n#endif\n",
            "hiker.c": '#include "hiker.h"\n\nint answer(void)\n{{\n    return {answer};\n}}\n',
            "hiker.tests.c": (
                '#include "hiker.h"\n#include <assert.h>\n#include <stdio.h>\n\n'
                "int main(void)\n{\n    assert(answer() == 42);\n"
                '    puts("All tests passed");\n    return 0;\n}\n'
            ),
        },
        "hiker.c",
        {"report/coverage.txt"},
        lambda_in_manifest=False,
    ),
]


@pytest.fixture
def cyber_dojo_id(stack: Stack) -> Iterator[str]:
    made = secrets.token_hex(3)
    yield made
    stack.done("DELETE", f"/katas/{cyber_dojo_sandbox(made)[0]}")


@pytest.mark.parametrize("colour", ["red", "amber", "green"])
@pytest.mark.parametrize("start_point", START_POINTS, ids=[each.name for each in START_POINTS])
def test_each_start_point_goes_each_colour_by_its_lambda(
    stack: Stack, cyber_dojo_id: str, start_point: StartPoint, colour: str
) -> None:
    sent = start_point.sent(colour)
    result = run(stack, cyber_dojo_id, sent, start_point.image, **start_point.manifest())
    assert result["outcome"] == colour, result
    assert result["log"] == {}, result["log"]
    # Only text comes back: the compiled tests and coverage's data (binary) stay out, and
    # past a red or amber run set -e has stopped the script before its reports.
    created = set(result["created"])
    if colour == "green":
        assert created == start_point.reports_on_green, created
    else:
        assert created <= {"report/mypy.txt"}, created
    assert not set(result["changed"]) - set(sent), result["changed"]
