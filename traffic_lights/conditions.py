"""The conditions a colour rule may give under `when`: a small tree, parsed strictly from JSON.

    {"stdout": RE} | {"stderr": RE} | {"output": RE}   a regex found in stdout, stderr, or both
                                                       joined (stdout + stderr)
    {"status": [INT, ...]}                             the exit status is one of these
    {"all": [C, ...]} | {"any": [C, ...]} | {"not": C}
    {"compare": [TERM, OP, TERM]}                      OP: == != < <= > >=
    {"first": {"in": TEXT, "pattern": RE, "where": C}} the first match exists and C holds of it
    {"some": {"in": TEXT, "pattern": RE, "where": C}}  some match (non-overlapping) satisfies C

    TERM: INT | STRING | null | {"status": null} | {"to_i": TERM} | {"+": [TERM, TERM]}
          | {"-": [TERM, TERM]} | {"count": {"in": TEXT, "pattern": RE}}
          | {"group": INT | NAME} (only under "where": the match's group, null when unmatched)

`to_i` is Ruby's String#to_i (a leading integer, else 0; null is 0). `<`, `>`, `+`, `-` take
integers only, which is checked when the rules are parsed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from traffic_lights.errors import BadRules

TEXTS = ("stdout", "stderr", "output")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TO_I = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+(?:_[0-9]+)*)")


@dataclass(frozen=True)
class Run:
    """What a condition looks at: one run's output and status, and the match under test."""

    stdout: str
    stderr: str
    status: int
    match: re.Match[str] | None = None

    def text(self, name: str) -> str:
        if name == "output":
            return self.stdout + self.stderr
        return self.stdout if name == "stdout" else self.stderr


class Condition(Protocol):
    def holds(self, run: Run) -> bool: ...


class Term(Protocol):
    def value(self, run: Run) -> Any: ...


@dataclass(frozen=True)
class Search:
    text: str
    pattern: re.Pattern[str]

    def holds(self, run: Run) -> bool:
        return self.pattern.search(run.text(self.text)) is not None


@dataclass(frozen=True)
class StatusIn:
    statuses: frozenset[int]

    def holds(self, run: Run) -> bool:
        return run.status in self.statuses


@dataclass(frozen=True)
class All:
    parts: tuple[Condition, ...]

    def holds(self, run: Run) -> bool:
        return all(part.holds(run) for part in self.parts)


@dataclass(frozen=True)
class Any_:
    parts: tuple[Condition, ...]

    def holds(self, run: Run) -> bool:
        return any(part.holds(run) for part in self.parts)


@dataclass(frozen=True)
class Not:
    part: Condition

    def holds(self, run: Run) -> bool:
        return not self.part.holds(run)


@dataclass(frozen=True)
class Compare:
    left: Term
    op: str
    right: Term

    def holds(self, run: Run) -> bool:
        return _OPS[self.op](self.left.value(run), self.right.value(run))


@dataclass(frozen=True)
class Matches:
    """The first match (`first`) or some match (`some`) of a pattern satisfies `where`."""

    text: str
    pattern: re.Pattern[str]
    where: Condition
    every: bool

    def holds(self, run: Run) -> bool:
        text = run.text(self.text)
        if not self.every:
            found = self.pattern.search(text)
            return found is not None and self.where.holds(_with(run, found))
        return any(self.where.holds(_with(run, m)) for m in self.pattern.finditer(text))


def _with(run: Run, match: re.Match[str]) -> Run:
    return Run(run.stdout, run.stderr, run.status, match)


@dataclass(frozen=True)
class Literal:
    constant: int | str | None

    def value(self, run: Run) -> Any:
        return self.constant


@dataclass(frozen=True)
class Status:
    def value(self, run: Run) -> Any:
        return run.status


@dataclass(frozen=True)
class Group:
    group: int | str

    def value(self, run: Run) -> Any:
        assert run.match is not None  # parsing allows groups only under "where"
        return run.match.group(self.group)


@dataclass(frozen=True)
class ToI:
    term: Term

    def value(self, run: Run) -> Any:
        value = self.term.value(run)
        if isinstance(value, int):
            return value
        found = _TO_I.match(value or "")
        return int(found.group(1).replace("_", "")) if found else 0


@dataclass(frozen=True)
class Arithmetic:
    op: str
    left: Term
    right: Term

    def value(self, run: Run) -> Any:
        left, right = self.left.value(run), self.right.value(run)
        return left + right if self.op == "+" else left - right


@dataclass(frozen=True)
class Count:
    text: str
    pattern: re.Pattern[str]

    def value(self, run: Run) -> Any:
        return sum(1 for _ in self.pattern.finditer(run.text(self.text)))


def parse_condition(item: Any, pattern: re.Pattern[str] | None = None) -> Condition:
    """A Condition from its JSON; `pattern` is the one whose groups `where` may use."""
    key, body = _single(item, "condition")
    if key in TEXTS:
        return Search(key, compile_pattern(body))
    if key == "status":
        if not (isinstance(body, list) and all(type(s) is int for s in body)):
            raise BadRules(f"condition {item!r}: status must be a list of integers")
        return StatusIn(frozenset(body))
    if key in ("all", "any"):
        if not isinstance(body, list):
            raise BadRules(f"condition {item!r}: {key} must be a list of conditions")
        parts = tuple(parse_condition(part, pattern) for part in body)
        return All(parts) if key == "all" else Any_(parts)
    if key == "not":
        return Not(parse_condition(body, pattern))
    if key == "compare":
        if not (isinstance(body, list) and len(body) == 3 and body[1] in _OPS):
            raise BadRules(f"condition {item!r}: compare is [term, op, term], op one of {_OPS}")
        left, left_type = _term(body[0], pattern)
        right, right_type = _term(body[2], pattern)
        if body[1] not in ("==", "!=") and not left_type == right_type == "int":
            raise BadRules(f"condition {item!r}: {body[1]} compares integers only")
        return Compare(left, body[1], right)
    if key in ("first", "some"):
        text, found = _text_pattern(body, {"in", "pattern", "where"})
        return Matches(text, found, parse_condition(body["where"], found), key == "some")
    raise BadRules(f"condition {item!r}: unknown condition {key!r}")


def compile_pattern(value: Any) -> re.Pattern[str]:
    """A rule's regex, searched with re.MULTILINE."""
    if not isinstance(value, str):
        raise BadRules(f"pattern {value!r} is not a string")
    try:
        return re.compile(value, re.MULTILINE)
    except re.error as error:
        raise BadRules(f"pattern {value!r}: {error}") from error


def _term(item: Any, pattern: re.Pattern[str] | None) -> tuple[Term, str]:
    """A term and its type: 'int', or 'str' (a string or null)."""
    if item is None or isinstance(item, str):
        return Literal(item), "str"
    if type(item) is int:
        return Literal(item), "int"
    key, body = _single(item, "term")
    if key == "status" and body is None:
        return Status(), "int"
    if key == "to_i":
        return ToI(_term(body, pattern)[0]), "int"
    if key in ("+", "-"):
        if not (isinstance(body, list) and len(body) == 2):
            raise BadRules(f"term {item!r}: {key} takes two terms")
        (left, left_type), (right, right_type) = (_term(t, pattern) for t in body)
        if not left_type == right_type == "int":
            raise BadRules(f"term {item!r}: {key} takes integers only")
        return Arithmetic(key, left, right), "int"
    if key == "count":
        text, found = _text_pattern(body, {"in", "pattern"})
        return Count(text, found), "int"
    if key == "group":
        if pattern is None:
            raise BadRules(f"term {item!r}: a group is only known under first or some")
        known = isinstance(body, str) and body in pattern.groupindex
        if not (known or (type(body) is int and 0 <= body <= pattern.groups)):
            raise BadRules(f"term {item!r}: the pattern has no group {body!r}")
        return Group(body), "str"
    raise BadRules(f"term {item!r}: unknown term {key!r}")


def _single(item: Any, what: str) -> tuple[str, Any]:
    if not (isinstance(item, dict) and len(item) == 1):
        raise BadRules(f"{what} {item!r}: expected an object with one key")
    [(key, body)] = item.items()
    return str(key), body


def _text_pattern(body: Any, keys: set[str]) -> tuple[str, re.Pattern[str]]:
    if not (isinstance(body, dict) and set(body) == keys and body["in"] in TEXTS):
        raise BadRules(f"{body!r}: expected {sorted(keys)}, 'in' one of {TEXTS}")
    return str(body["in"]), compile_pattern(body["pattern"])
