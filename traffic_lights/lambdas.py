"""cyber-dojo's traffic-light lambdas translated into this runner's colour rules, never run here.

A start-point's `manifest.rag_lambda` (or an older image's /usr/local/bin/red_amber_green.rb)
is Ruby: `lambda { |stdout, stderr, status| ... }` giving :red, :amber or :green. This module
reads it (traffic_lights/ruby_syntax.py), follows its statements symbolically and writes the
ordered rules that give the same colour for every output: a `return :c if cond` is a rule whose
condition is cond and every condition that had to fail to reach it. Loops over word lists are
unrolled, regexes rewritten for Python (traffic_lights/ruby_regex.py). What it cannot follow
exactly is refused with Untranslatable and the reason; the worker's Ruby judge judges such a
lambda (sandbox/ruby_judge.py), and without one its runs are `faulty`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from functools import lru_cache
from typing import Any

from traffic_lights.errors import BadRules, RubyRegexError, Untranslatable
from traffic_lights.ruby_regex import python_pattern
from traffic_lights.ruby_syntax import Node, parse_lambda
from traffic_lights.rules import TRAFFIC_LIGHTS, ColourRules, parse_rules

log = logging.getLogger(__name__)

LAMBDA_KEY_PREFIX = "sha256:"
__all__ = [
    "LAMBDA_KEY_PREFIX",
    "Untranslatable",
    "lambda_key",
    "rules_for_lambda",
    "translate",
    "translate_document",
]

Value = tuple[Any, ...]  # ("text", name) ("status",) ("static", v) ("regex", p) ("match", ...)
TRUE: dict[str, Any] = {"all": []}
FALSE: dict[str, Any] = {"any": []}
_ORDERS = ("<", "<=", ">", ">=")


def lambda_key(text: str) -> str:
    """The key an operator gives hand-written rules for this lambda under."""
    return LAMBDA_KEY_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def translate_document(text: str) -> dict[str, Any]:
    """The colour rules document of the lambda's text; raises Untranslatable with the reason."""
    found = _translated(text)
    if isinstance(found, str):
        raise Untranslatable(found)
    return found


def translate(text: str) -> ColourRules:
    """The lambda's colour rules; raises Untranslatable with the reason."""
    return _parsed(text)


def rules_for_lambda(text: str) -> ColourRules | str:
    """The lambda's colour rules, or the reason it cannot be translated (logged once)."""
    try:
        return _parsed(text)
    except Untranslatable as error:
        return str(error)


@lru_cache(maxsize=512)
def _parsed(text: str) -> ColourRules:
    try:
        return parse_rules(translate_document(text))
    except BadRules as error:  # a translation the rules refuse: say so, never crash
        raise Untranslatable(f"the translation is not valid rules: {error}") from error


@lru_cache(maxsize=512)
def _translated(text: str) -> dict[str, Any] | str:
    try:
        params, body = parse_lambda(text)
        return _Compiler(params).document(body)
    except Untranslatable as error:
        reason = f"cannot translate the lambda {lambda_key(text)[:19]}: {error}"
        log.info("%s", reason)  # the Ruby judge judges it, if the host has one
        return reason


class _Compiler:
    def __init__(self, params: tuple[str, ...]) -> None:
        self.base: dict[str, Value] = {
            params[0]: ("text", "stdout"),
            params[1]: ("text", "stderr"),
            params[2]: ("status",),
        }
        self.rules: list[dict[str, Any]] = []

    def document(self, body: list[Node]) -> dict[str, Any]:
        if not self.block(body, dict(self.base), [], tail=True):
            raise Untranslatable("the lambda can end without a colour (that gives faulty)")
        # Every way through returns, so when no earlier rule holds the last one does: its
        # colour is the otherwise, and a last rule without a condition is dropped for it.
        last = self.rules[-1]
        if "when" not in last:
            self.rules.pop()
        return {"rules": self.rules, "otherwise": last["colour"]}

    # Statements: each adds rules; True when every way through them returns.

    def block(
        self, body: list[Node], env: dict[str, Value], path: list[Any], *, tail: bool
    ) -> bool:
        for i, statement in enumerate(body):
            if self.statement(statement, env, path, tail=tail and i == len(body) - 1):
                return True  # what follows never runs
            self.guard_after(statement, env)
        return False

    def guard_after(self, statement: Node, env: dict[str, Value]) -> None:
        """After `return ... if m.nil?` (or `unless m`), the match m is known to be there."""
        if statement.kind != "if" or statement.args[1] is not None or len(statement.args[0]) != 1:
            return
        [(cond, body)] = statement.args[0]
        if not body or body[-1].kind != "return":
            return
        nil = cond.kind == "call" and cond.args[1] == "nil?" and not cond.args[2]
        if not (nil or cond.kind == "not"):
            return
        target = cond.args[0]
        if target.kind == "name" and env.get(target.args[0], ("",))[0] == "match":
            env[target.args[0]] = (*env[target.args[0]][:3], True)

    def statement(self, node: Node, env: dict[str, Value], path: list[Any], *, tail: bool) -> bool:
        kind = node.kind
        if kind == "return":
            if node.args[0] is None:
                raise self.fail(node, "a return without a colour")
            self.colour(node.args[0], env, path)
            return True
        if kind == "if":
            return self.conditional(node, env, path, tail=tail)
        if kind == "assign":
            name, value = node.args
            if name in self.base:
                raise self.fail(node, f"an assignment to the parameter {name}")
            env[name] = self.value(value, env)
            return False
        expr = node.args[0]
        if expr.kind == "call" and expr.args[1] == "each" and expr.args[3] is not None:
            return self.each(expr, env, path)
        if tail:
            self.colour(expr, env, path)
            return True
        raise self.fail(node, "a statement with no effect")

    def conditional(
        self, node: Node, env: dict[str, Value], path: list[Any], *, tail: bool
    ) -> bool:
        branches, otherwise = node.args
        failed: list[Any] = []
        ends = True
        for cond, body in branches:
            inner = dict(env)
            test = self.cond(cond, inner)
            ends &= self.block(
                body, self.scoped(inner, env, body), [*path, *failed, test], tail=tail
            )
            failed.append({"not": test})
        if otherwise is None:
            return False
        return (
            self.block(
                otherwise, self.scoped(dict(env), env, otherwise), [*path, *failed], tail=tail
            )
            and ends
        )

    def scoped(
        self, inner: dict[str, Value], outer: dict[str, Value], body: list[Node]
    ) -> dict[str, Value]:
        for statement in body:
            if statement.kind == "assign" and statement.args[0] in outer:
                raise self.fail(statement, f"{statement.args[0]} assigned again in a branch")
        return inner

    def each(self, node: Node, env: dict[str, Value], path: list[Any]) -> bool:
        receiver, _, _, (params, body) = node.args
        items = self.static(receiver, env, list)
        if len(params) != 1:
            raise self.fail(node, "an each with other than one block parameter")
        for item in items:
            inner = {**env, params[0]: ("static", item)}
            if self.block(body, self.scoped(inner, env, body), path, tail=False):
                return True
        return False

    def colour(self, node: Node, env: dict[str, Value], path: list[Any]) -> None:
        """A rule for each colour the expression can give on this path."""
        if node.kind == "?:":
            cond, yes, no = node.args
            inner = dict(env)
            test = self.cond(cond, inner)
            self.colour(yes, inner, [*path, test])
            self.colour(no, env, [*path, {"not": test}])
            return
        if node.kind == "symbol" or (node.kind == "str" and len(node.args[0]) == 1):
            colour = str(node.args[0] if node.kind == "symbol" else node.args[0][0])
            if colour not in TRAFFIC_LIGHTS:
                raise self.fail(node, f"the colour {colour!r} (cyber-dojo gives faulty)")
            rule: dict[str, Any] = {"colour": colour}
            if path:
                rule["when"] = path[0] if len(path) == 1 else {"all": list(path)}
            self.rules.append(rule)
            return
        raise self.fail(node, f"a value other than :red, :amber or :green ({node.kind})")

    # Conditions: JSON condition trees. `env` gains the match variables the condition
    # proves non-nil, for the branch it guards.

    def cond(self, node: Node, env: dict[str, Value]) -> Any:
        kind, args = node.kind, node.args
        if kind in ("&&", "and"):
            return {"all": [self.cond(args[0], env), self.cond(args[1], env)]}
        if kind in ("||", "or"):
            return {"any": [self.cond(args[0], dict(env)), self.cond(args[1], dict(env))]}
        if kind == "not":
            return {"not": self.cond(args[0], dict(env))}
        if kind in ("true", "false", "nil"):
            return TRUE if kind == "true" else FALSE
        if kind == "assign":
            value = self.value(args[1], env)
            if value[0] != "match":
                raise self.fail(node, "an assignment in a condition other than a match")
            env[args[0]] = (*value[:3], True)
            return {value[1]: value[2]}
        if kind in ("=~", "!~"):
            found = self.search(args[0], args[1], env, node, source=False)
            return found if kind == "=~" else {"not": found}
        if kind in ("==", "!=", *_ORDERS):
            return self.compare(node, env)
        if kind == "call":
            return self.call_cond(node, env)
        value = self.value(node, env)
        if value[0] == "match":
            if kind == "name":
                env[args[0]] = (*value[:3], True)
            return {value[1]: value[2]}
        if value[0] == "group":
            return self.owned({"compare": [value[1], "!=", None]}, value[3], node)
        if value[0] == "static":
            return FALSE if value[1] is None or value[1] is False else TRUE
        return TRUE  # a text or the status: always truthy in Ruby

    def call_cond(self, node: Node, env: dict[str, Value]) -> Any:
        receiver, method, args, block = node.args
        if method in ("match", "match?") and len(args) == 1:
            return self.search(receiver, args[0], env, node)
        if method in ("any?", "all?", "none?") and block is not None:
            return self.quantified(node, env)
        target = self.value(receiver, env)
        if method == "include?" and len(args) == 1:
            if target[0] == "text":
                word = self.static(args[0], env, str)
                return {target[1]: re.escape(word)}
            if target[0] == "static" and self.value(args[0], env) == ("status",):
                if not all(type(n) is int for n in target[1]):
                    return {"status": [n for n in target[1] if type(n) is int]}
                return {"status": list(target[1])}
        if method == "zero?" and target == ("status",) and not args:
            return {"status": [0]}
        if method == "nonzero?" and target == ("status",) and not args:
            return {"not": {"status": [0]}}
        if method == "nil?" and target[0] == "match" and not args:
            return {"not": {target[1]: target[2]}}
        if method == "empty?" and not args:
            if target[0] == "text":
                return {target[1]: r"\A\Z"}
            if target[0] == "scan":
                return {"compare": [self.count(target), "==", 0]}
        if method == "any?" and not args and block is None and target[0] == "scan":
            return {"compare": [self.count(target), ">", 0]}
        return self.cond_of_value(self.value(node, env), node)

    def cond_of_value(self, value: Value, node: Node) -> Any:
        if value[0] == "match":
            return {value[1]: value[2]}
        if value[0] == "static":
            return FALSE if value[1] in (None, False) else TRUE
        raise self.fail(node, f"a condition on {value[0]}")

    def quantified(self, node: Node, env: dict[str, Value]) -> Any:
        """`list.any? { |w| ... }` unrolled; `text.scan(re).any? { |row| ... }` as `some`."""
        receiver, method, _, (params, body) = node.args
        if len(body) != 1 or body[0].kind != "expr":
            raise self.fail(node, f"a {method} block other than one expression")
        target = self.value(receiver, env)
        if target[0] == "static" and isinstance(target[1], list) and len(params) == 1:
            parts = [
                self.cond(body[0].args[0], {**env, params[0]: ("static", w)}) for w in target[1]
            ]
            found: Any = {"all" if method == "all?" else "any": parts}
            return {"not": found} if method == "none?" else found
        if target[0] != "scan":
            raise self.fail(node, f"{method} over something other than a word list or a scan")
        _, text, pattern, groups = target
        if groups == 0:
            raise self.fail(node, "a scan without groups in the regex")
        inner = dict(env)
        if len(params) == 1:
            inner[params[0]] = ("row", groups)
        else:
            for i, name in enumerate(params):
                inner[name] = ("group", {"group": i + 1}, "str", "row")
        where = self.cond(body[0].args[0], inner)
        if method == "all?":
            where = {"not": where}
        some = {"some": {"in": text, "pattern": pattern, "where": where}}
        return some if method == "any?" else {"not": some}

    def search(
        self, left: Node, right: Node, env: dict[str, Value], node: Node, *, source: bool = True
    ) -> Any:
        """A regex searched in a text; `source`: a string may stand for a regex (String#match)."""
        a, b = self.value(left, env), self.value(right, env)
        text, regex = (a, b) if a[0] == "text" else (b, a)
        if text[0] != "text" or regex[0] not in ("regex", "static" if source else "regex"):
            raise self.fail(node, "a match other than of a regex against stdout, stderr or both")
        if regex[0] == "static":  # Ruby's String#match takes a string as a regex's source
            regex = (
                "regex",
                self.pattern(self.static(right if a is text else left, env, str), "", node),
            )
        return {text[1]: regex[1]}

    def compare(self, node: Node, env: dict[str, Value]) -> Any:
        op = node.kind
        (left, lt, lo), (right, rt, ro) = (self.term(a, env) for a in node.args)
        if op in _ORDERS and not lt == rt == "int":
            raise self.fail(node, f"{op} between other than integers")
        owner = lo or ro
        if lo and ro and lo != ro:
            raise self.fail(node, "a comparison of two different matches")
        if op in ("==", "!=") and owner is None:
            for status, number in ((left, right), (right, left)):
                if status == {"status": None} and type(number) is int:
                    found: Any = {"status": [number]}
                    return found if op == "==" else {"not": found}
        return self.owned({"compare": [left, op, right]}, owner, node)

    def owned(self, cond: Any, owner: Any, node: Node) -> Any:
        """A condition on a match's groups, under the `first` match of its variable."""
        if owner is None or owner == "row":
            return cond
        _, text, pattern, guarded = owner
        if not guarded:
            raise self.fail(node, "a capture of a match that may be nil (no match)")
        return {"first": {"in": text, "pattern": pattern, "where": cond}}

    def term(self, node: Node, env: dict[str, Value]) -> tuple[Any, str, Any]:
        """A comparison's term: its JSON, its type ('int' or 'str') and its match, if any."""
        value = self.value(node, env)
        if value[0] == "status":
            return {"status": None}, "int", None
        if value[0] == "static" and (value[1] is None or type(value[1]) in (int, str)):
            return value[1], "int" if type(value[1]) is int else "str", None
        if value[0] in ("group", "int"):
            return value[1], value[2], value[3]
        raise self.fail(node, f"a comparison of {value[0]}")

    def count(self, scan: Value) -> Any:
        return {"count": {"in": scan[1], "pattern": scan[2]}}

    # Values: what an expression stands for, known when translating or left to the rules.

    def value(self, node: Node, env: dict[str, Value]) -> Value:
        kind, args = node.kind, node.args
        if kind == "int":
            return ("static", args[0])
        if kind in ("nil", "true", "false"):
            return ("static", {"nil": None, "true": True, "false": False}[kind])
        if kind == "str":
            return ("static", self.interpolated(args[0], env))
        if kind == "words":
            return ("static", list(args[0]))
        if kind == "symbol":
            return ("static", ":" + args[0])
        if kind == "array":
            return ("static", [self.static(a, env, (str, int)) for a in args])
        if kind == "regex":
            parts, flags = args[0]
            return ("regex", self.pattern(self.interpolated(parts, env), flags, node))
        if kind == "name":
            if args[0] not in env:
                raise self.fail(node, f"the unknown name {args[0]}")
            return env[args[0]]
        if kind.startswith("Regexp."):
            return self.regexp(node, env)
        if kind == "+":
            a, b = self.value(args[0], env), self.value(args[1], env)
            if a == ("text", "stdout") and b == ("text", "stderr"):
                return ("text", "output")
            if a[0] == b[0] == "text":
                raise self.fail(node, "a join of texts other than stdout + stderr")
            if a[0] == b[0] == "static" and type(a[1]) is type(b[1]) and type(a[1]) in (int, str):
                return ("static", a[1] + b[1])
            return self.arithmetic(node, env)
        if kind == "-":
            return self.arithmetic(node, env)
        if kind == "index":
            return self.index(node, env)
        if kind == "call":
            return self.call(node, env)
        raise self.fail(node, f"the expression {kind}")

    def arithmetic(self, node: Node, env: dict[str, Value]) -> Value:
        (left, lt, lo), (right, rt, ro) = (self.term(a, env) for a in node.args)
        if not lt == rt == "int" or (lo and ro and lo != ro):
            raise self.fail(node, f"{node.kind} other than of integers of one match")
        return ("int", {node.kind: [left, right]}, "int", lo or ro)

    def index(self, node: Node, env: dict[str, Value]) -> Value:
        target = self.value(node.args[0], env)
        if len(node.args[1]) != 1:
            raise self.fail(node, "a slice")
        key = self.value(node.args[1][0], env)
        if key[0] != "static" or type(key[1]) not in (int, str):
            raise self.fail(node, "an index other than a number or a name")
        group = key[1][1:] if isinstance(key[1], str) and key[1].startswith(":") else key[1]
        if target[0] == "match":
            compiled = re.compile(target[2])
            if group not in compiled.groupindex and not (
                type(group) is int and 0 <= group <= compiled.groups
            ):
                raise self.fail(node, f"the capture {group!r} the regex does not have")
            return ("group", {"group": group}, "str", target)
        if target[0] == "row" and type(group) is int:
            if not 0 <= group < target[1]:
                raise self.fail(node, f"the capture {group} of a regex with {target[1]} groups")
            return ("group", {"group": group + 1}, "str", "row")
        raise self.fail(node, f"an index into {target[0]}")

    def call(self, node: Node, env: dict[str, Value]) -> Value:
        receiver, method, args, block = node.args
        if block is not None:
            raise self.fail(node, f"a block given to {method} here")
        target = self.value(receiver, env)
        if method == "match" and len(args) == 1:
            found = self.search(receiver, args[0], env, node)
            [(text, pattern)] = found.items()
            return ("match", text, pattern, False)
        if method == "scan" and target[0] == "text" and len(args) == 1:
            regex = self.value(args[0], env)
            if regex[0] != "regex":
                raise self.fail(node, "a scan of other than a regex")
            return ("scan", target[1], regex[1], re.compile(regex[1]).groups)
        if method in ("size", "length", "count") and target[0] == "scan" and not args:
            return ("int", self.count(target), "int", None)
        if method == "to_i" and not args:
            if target == ("status",):
                return target
            if target[0] == "group":
                return ("int", {"to_i": target[1]}, "int", target[3])
        if method == "to_s" and not args and target[0] == "group":
            return target
        if method == "join" and target[0] == "static" and isinstance(target[1], list):
            separator = self.static(args[0], env, str) if args else ""
            return ("static", separator.join(str(w) for w in target[1]))
        if method in ("to_i", "to_s") and target[0] == "static" and not args:
            return ("static", int(target[1]) if method == "to_i" else str(target[1]))
        raise self.fail(node, f"the method {method} on {target[0]}")

    def regexp(self, node: Node, env: dict[str, Value]) -> Value:
        method = node.kind.removeprefix("Regexp.")
        if method == "new" and len(node.args) == 1:
            source = self.value(node.args[0], env)
            if source[0] == "regex":
                return source
            return ("regex", self.pattern(self.static(node.args[0], env, str), "", node))
        if method in ("escape", "quote") and len(node.args) == 1:
            return ("static", ruby_escape(self.static(node.args[0], env, str)))
        if method == "union":
            items = [self.value(a, env) for a in node.args]
            words = items[0][1] if len(items) == 1 and items[0][0] == "static" else None
            if not isinstance(words, list):
                words = [self.static(a, env, str) for a in node.args]
            alternatives = "|".join(ruby_escape(str(w)) for w in words)
            return ("regex", self.pattern(alternatives, "", node))
        raise self.fail(node, f"Regexp.{method} with these arguments")

    def interpolated(self, parts: tuple[Any, ...], env: dict[str, Value]) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(str(self.static(part, env, (str, int))))
        return "".join(out)

    def static(self, node: Node, env: dict[str, Value], kind: Any) -> Any:
        value = self.value(node, env)
        if value[0] != "static" or not isinstance(value[1], kind) or isinstance(value[1], bool):
            raise self.fail(node, "a value not known before the run where a constant is needed")
        return value[1]

    def pattern(self, source: str, flags: str, node: Node) -> str:
        try:
            return python_pattern(source, flags)
        except RubyRegexError as error:
            raise self.fail(node, str(error)) from error

    def fail(self, node: Node, what: str) -> Untranslatable:
        return Untranslatable(f"{what}, at line {node.line}")


def ruby_escape(text: str) -> str:
    """Ruby's Regexp.escape: the regex source that matches the text literally."""
    special = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f", "\v": "\\v", " ": "\\ "}
    return "".join(special.get(c, "\\" + c if c in ".*?+^$|()[]{}\\/-#" else c) for c in text)
