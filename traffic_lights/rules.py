"""Colour rules: how an image's output maps to red, amber or green, given as data.

An image carries its rules as JSON in the label COLOUR_RULES_LABEL:

    {"rules": [{"colour": "red", "stdout": "regex", "stderr": "regex", "status": [1]}, ...],
     "otherwise": "amber"}

The first rule whose every given condition holds decides the colour (regexes are searched
with re.MULTILINE); no rule holding gives `otherwise`. Missing or broken rules give `faulty`.
A rule may also give `when`, a tree of conditions (traffic_lights/conditions.py): all, any
and not, the status, regexes over stdout + stderr joined, captures compared. Translated
cyber-dojo lambdas (traffic_lights/lambdas.py) are rules of this kind.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from traffic_lights.conditions import Condition, Run, compile_pattern, parse_condition
from traffic_lights.errors import BadRules

COLOUR_RULES_LABEL = "org.cyber-dojo.runner.colour-rules"
TRAFFIC_LIGHTS = ("red", "amber", "green")


@dataclass(frozen=True)
class Rule:
    """One condition set and the colour it gives."""

    colour: str
    stdout: re.Pattern[str] | None = None
    stderr: re.Pattern[str] | None = None
    status: frozenset[int] | None = None
    when: Condition | None = None

    def holds(self, stdout: str, stderr: str, status: int) -> bool:
        """True when every condition the rule gives holds."""
        return (
            (self.stdout is None or self.stdout.search(stdout) is not None)
            and (self.stderr is None or self.stderr.search(stderr) is not None)
            and (self.status is None or status in self.status)
            and (self.when is None or self.when.holds(Run(stdout, stderr, status)))
        )


@dataclass(frozen=True)
class ColourRules:
    """An ordered list of rules and the colour when none holds."""

    rules: tuple[Rule, ...]
    otherwise: str

    def colour(self, stdout: str, stderr: str, status: int) -> str:
        """The traffic light for one run's output."""
        for rule in self.rules:
            if rule.holds(stdout, stderr, status):
                return rule.colour
        return self.otherwise


def parse_rules(document: Any) -> ColourRules:
    """ColourRules from the decoded JSON document (a dict, or a JSON string of one)."""
    try:
        if isinstance(document, str):
            document = json.loads(document)
        if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
            raise BadRules("rules: expected an object with a list 'rules'")
        rules = tuple(_rule(item) for item in document["rules"])
        otherwise = _colour(document.get("otherwise", "amber"))
    except (json.JSONDecodeError, re.error, TypeError) as error:
        raise BadRules(str(error)) from error
    return ColourRules(rules, otherwise)


def _rule(item: Any) -> Rule:
    if not isinstance(item, dict) or not set(item) <= {
        "colour",
        "stdout",
        "stderr",
        "status",
        "when",
    }:
        raise BadRules(f"rule {item!r}: expected colour, stdout, stderr, status, when")
    status = item.get("status")
    if status is not None and not (
        isinstance(status, list) and all(isinstance(s, int) for s in status)
    ):
        raise BadRules(f"rule {item!r}: status must be a list of integers")
    return Rule(
        colour=_colour(item.get("colour")),
        stdout=_regex(item.get("stdout")),
        stderr=_regex(item.get("stderr")),
        status=None if status is None else frozenset(status),
        when=None if item.get("when") is None else parse_condition(item["when"]),
    )


def _colour(value: Any) -> str:
    if value not in TRAFFIC_LIGHTS:
        raise BadRules(f"colour {value!r} is not one of {', '.join(TRAFFIC_LIGHTS)}")
    return str(value)


def _regex(value: Any) -> re.Pattern[str] | None:
    return None if value is None else compile_pattern(value)
