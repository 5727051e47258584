"""Colour rules as data: parsing, judging, and the rules the local images carry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traffic_lights.errors import BadRules
from traffic_lights.rules import parse_rules

IMAGES = Path(__file__).parents[2] / "images"


def rules_of(image: str):  # type: ignore[no-untyped-def]
    return parse_rules((IMAGES / image / "colour_rules.json").read_text())


@pytest.mark.parametrize("status, colour", [(0, "green"), (1, "red"), (2, "amber"), (137, "amber")])
def test_shell_image_rules(status: int, colour: str) -> None:
    assert rules_of("shell").colour("", "", status) == colour


PYTEST_OUTPUTS = [
    ("=== 1 passed in 0.01s ===", 0, "green"),
    ("1 passed in 0.00s", 0, "green"),
    ("=== 2 passed, 1 warning in 0.03s ===", 0, "green"),
    ("=== 1 failed, 2 passed in 0.05s ===", 1, "red"),
    ("1 failed in 0.01s", 1, "red"),
    ("=== 1 error in 0.07s ===", 2, "amber"),
    (
        "E   SyntaxError: invalid syntax\nInterrupted: 1 error during collection\n1 error in 0.04s",
        2,
        "amber",
    ),
    ("=== 1 failed, 1 error in 0.05s ===", 1, "amber"),
    ("no tests ran in 0.01s", 5, "amber"),
    ("python3: can't open file", 2, "amber"),
    ("1 passed in 0.01s", 3, "amber"),  # passed, but pytest itself failed
]


@pytest.mark.parametrize("stdout, status, colour", PYTEST_OUTPUTS)
def test_python_image_rules(stdout: str, status: int, colour: str) -> None:
    assert rules_of("python-pytest").colour(stdout, "", status) == colour


def test_the_first_rule_that_holds_decides_and_every_condition_must_hold() -> None:
    rules = parse_rules(
        {
            "rules": [
                {"colour": "green", "stdout": "^ok$", "stderr": "^$", "status": [0]},
                {"colour": "red", "stdout": "ok"},
            ],
            "otherwise": "amber",
        }
    )
    assert rules.colour("ok", "", 0) == "green"
    assert rules.colour("ok", "warning", 0) == "red"
    assert rules.colour("not", "", 0) == "amber"


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        json.dumps([1, 2]),
        {"rules": "x"},
        {"rules": [{"colour": "purple"}]},
        {"rules": [{"colour": "red", "stdout": "("}]},
        {"rules": [{"colour": "red", "status": "0"}]},
        {"rules": [{"colour": "red", "surprise": 1}]},
        {"rules": [], "otherwise": "blue"},
        {"rules": [{"colour": "red", "stdout": 7}]},
    ],
)
def test_broken_rules_are_refused(document: object) -> None:
    with pytest.raises(BadRules):
        parse_rules(document)
