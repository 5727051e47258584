"""A strict reader of the small subset of Ruby that cyber-dojo's traffic-light lambdas use.

It only reads: nothing here evaluates Ruby. The text becomes a tree of the nodes below;
anything outside the subset raises Untranslatable naming what and on which line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from traffic_lights.errors import Untranslatable


@dataclass(frozen=True)
class Token:
    kind: str  # name, symbol, int, str, regex, words, op, nl, eof
    value: Any
    line: int


@dataclass(frozen=True)
class Node:
    """An expression or a statement: `kind` names it, `args` are its parts."""

    kind: str
    args: tuple[Any, ...]
    line: int


KEYWORDS = {"lambda", "return", "if", "elsif", "else", "end", "unless", "do", "then"}
KEYWORDS |= {"and", "or", "not", "nil", "true", "false", "while", "until", "case", "def"}
_OPS = sorted(
    [
        "==",
        "!=",
        "=~",
        "!~",
        "===",
        "...",
        "..",
        "&&",
        "||",
        "<=",
        ">=",
        "->",
        "!",
        "=",
        "<",
        ">",
        "+",
        "-",
        "*",
        "?",
        ":",
        ".",
        ",",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "|",
        ";",
    ],
    key=len,
    reverse=True,
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CLOSE = {"(": ")", "[": "]", "{": "}", "<": ">"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "e": "\x1b", "s": " ", "0": "\0", "a": "\a"}
_ESCAPES |= {"b": "\b", "f": "\f", "v": "\v"}


def tokens(text: str) -> list[Token]:
    """The text's tokens; strings and regexes keep `#{...}` interpolations as parsed nodes."""
    out: list[Token] = []
    i, line = 0, 1

    def fail(what: str) -> Untranslatable:
        return Untranslatable(f"{what} at line {line}")

    while i < len(text):
        c = text[i]
        if c == "\n":
            out.append(Token("nl", None, line))
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "\\" and text.startswith("\n", i + 1):
            i += 2
            line += 1
        elif c == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif c.isdigit():
            found = re.match(r"[0-9][0-9_]*", text[i:])
            assert found is not None
            out.append(Token("int", int(found.group().replace("_", "")), line))
            i += len(found.group())
        elif _NAME.match(c):
            found = _NAME.match(text, i)
            assert found is not None
            name = found.group()
            i = found.end()
            after_dot = bool(out) and out[-1].value == "." and out[-1].kind == "op"
            if after_dot and i < len(text) and text[i] in "?!" and text[i + 1 : i + 2] != "=":
                name += text[i]
                i += 1
            out.append(Token("name", name, line))
        elif c == ":" and i + 1 < len(text) and _NAME.match(text[i + 1]):
            found = _NAME.match(text, i + 1)
            assert found is not None
            out.append(Token("symbol", found.group(), line))
            i = found.end()
        elif c in "'\"":
            parts, i, line = _quoted(text, i + 1, c, line, interpolate=c == '"')
            out.append(Token("str", parts, line))
        elif c == "/":
            parts, i, line = _quoted(text, i + 1, "/", line, interpolate=True, raw=True)
            flags = re.match(r"[a-z]*", text[i:])
            assert flags is not None
            i += len(flags.group())
            out.append(Token("regex", (parts, flags.group()), line))
        elif c == "%" and text[i + 1 : i + 2] in ("w", "r") and text[i + 2 : i + 3] in "([{<|!":
            kind, opener = text[i + 1], text[i + 2]
            close = _CLOSE.get(opener, opener)
            if kind == "w":
                end = text.find(close, i + 3)
                if end < 0:
                    raise fail("an unclosed %w")
                words = tuple(text[i + 3 : end].split())
                line += text[i:end].count("\n")
                out.append(Token("words", words, line))
                i = end + 1
            else:
                parts, i, line = _quoted(text, i + 3, close, line, interpolate=True, raw=True)
                flags = re.match(r"[a-z]*", text[i:])
                assert flags is not None
                i += len(flags.group())
                out.append(Token("regex", (parts, flags.group()), line))
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:
                raise fail(f"unexpected {c!r}")
            out.append(Token("op", op, line))
            i += len(op)
    out.append(Token("eof", None, line))
    return out


def _quoted(
    text: str, i: int, close: str, line: int, *, interpolate: bool, raw: bool = False
) -> tuple[tuple[Any, ...], int, int]:
    """The parts (strings, interpolated nodes) of a literal up to `close`, and where it ends.

    `raw` keeps backslash escapes as written (a regex's source); otherwise they are decoded
    as Ruby decodes a double-quoted (or, without `interpolate`, a single-quoted) string.
    """
    parts: list[Any] = []
    chunk: list[str] = []
    in_class = False
    while True:
        if i >= len(text):
            raise Untranslatable(f"an unclosed {close} literal at line {line}")
        c = text[i]
        if c == "\n":
            line += 1
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if raw:
                chunk.append(n if n == close == "/" else c + n)
            elif not interpolate:
                chunk.append(n if n in ("\\", close) else c + n)
            elif n in _ESCAPES:
                chunk.append(_ESCAPES[n])
            elif n in "xu":
                raise Untranslatable(f"a \\{n} escape in a string at line {line}")
            else:
                chunk.append(n)  # Ruby drops the backslash of an unknown escape
            i += 2
            continue
        if raw and close == "/" and c in "[]":
            in_class = c == "["
        if c == close and not in_class:
            break
        if interpolate and text.startswith("#{", i):
            end = text.find("}", i)
            if end < 0:
                raise Untranslatable(f"an unclosed #{{ at line {line}")
            parts.append("".join(chunk))
            chunk = []
            parts.append(Parser(tokens(text[i + 2 : end])).expression_only(line))
            i = end + 1
            continue
        chunk.append(c)
        i += 1
    parts.append("".join(chunk))
    return tuple(p for p in parts if p != ""), i + 1, line


class Parser:
    """Recursive descent over the tokens; `lambda_body` reads a whole lambda."""

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.at = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.at]

    def fail(self, what: str) -> Untranslatable:
        shown = self.tok.value if self.tok.kind != "nl" else "a line break"
        return Untranslatable(f"{what} at line {self.tok.line} (found {shown!r})")

    def take(self, kind: str, value: Any = None) -> Token | None:
        if self.tok.kind == kind and (value is None or self.tok.value == value):
            self.at += 1
            return self.toks[self.at - 1]
        return None

    def expect(self, kind: str, value: Any = None) -> Token:
        found = self.take(kind, value)
        if found is None:
            raise self.fail(f"expected {value or kind}")
        return found

    def op(self, *values: str) -> str | None:
        if self.tok.kind == "op" and self.tok.value in values:
            self.at += 1
            return str(self.toks[self.at - 1].value)
        if self.tok.kind == "name" and self.tok.value in values:  # and, or, not
            self.at += 1
            return str(self.toks[self.at - 1].value)
        return None

    def newlines(self) -> None:
        while self.take("nl") or self.take("op", ";"):
            pass

    def expression_only(self, line: int) -> Node:
        node = self.expression()
        if self.tok.kind != "eof":
            raise Untranslatable(f"an interpolation other than one expression at line {line}")
        return node

    def lambda_(self) -> tuple[tuple[str, ...], list[Node]]:
        """The lambda's three parameter names and its statements."""
        self.newlines()
        if self.take("op", "->"):
            self.expect("op", "(")
            params = self.names(")")
            close = "}" if self.take("op", "{") else "end"
            if close == "end":
                self.expect("name", "do")
        else:
            self.expect("name", "lambda")
            close = "}" if self.take("op", "{") else "end"
            if close == "end":
                self.expect("name", "do")
            self.expect("op", "|")
            params = self.names("|")
        if len(params) != 3:
            raise Untranslatable(f"the lambda takes {len(params)} parameters, not 3")
        body = self.body(close)
        self.expect("op", "}") if close == "}" else self.expect("name", "end")
        self.newlines()
        if self.tok.kind != "eof":
            raise self.fail("more than one lambda")
        return params, body

    def names(self, close: str) -> tuple[str, ...]:
        names = [str(self.expect("name").value)]
        while self.take("op", ","):
            names.append(str(self.expect("name").value))
        self.expect("op", close)
        return tuple(names)

    def body(self, *ends: str) -> list[Node]:
        """Statements up to (not taking) one of the closing words or braces."""
        statements: list[Node] = []
        self.newlines()
        while not (self.tok.value in ends and self.tok.kind in ("op", "name")):
            if self.tok.kind == "eof":
                raise self.fail(f"expected {' or '.join(ends)}")
            statements.append(self.statement())
            at_end = self.tok.value in ends and self.tok.kind in ("op", "name")
            if not (at_end or self.take("nl") or self.take("op", ";")):
                raise self.fail("expected the end of the statement")
            self.newlines()
        return statements

    def statement(self) -> Node:
        line = self.tok.line
        if self.take("name", "return"):
            value = None
            if not (self.tok.kind in ("nl", "eof") or self.tok.value in ("if", "unless", "}")):
                value = self.expression()
            return self.modified(Node("return", (value,), line))
        if self.tok.kind == "name" and self.tok.value in ("if", "unless"):
            word = str(self.expect("name").value)
            return self.conditional(word, line)
        if self.tok.kind == "name" and self.tok.value in ("while", "until", "case", "def"):
            raise self.fail(f"'{self.tok.value}' is not supported")
        if self.tok.kind == "name" and self.toks[self.at + 1].value == "=":
            name = str(self.expect("name").value)
            self.expect("op", "=")
            self.newlines()
            return self.modified(Node("assign", (name, self.expression()), line))
        return self.modified(Node("expr", (self.expression(),), line))

    def modified(self, statement: Node) -> Node:
        """The statement with its trailing `if cond` or `unless cond`, when it has one."""
        if self.take("name", "if"):
            self.newlines()
            return Node("if", (((self.condition(), [statement]),), None), statement.line)
        if self.take("name", "unless"):
            self.newlines()
            cond = Node("not", (self.condition(),), statement.line)
            return Node("if", (((cond, [statement]),), None), statement.line)
        return statement

    def conditional(self, word: str, line: int) -> Node:
        branches = []
        cond = self.condition()
        if word == "unless":
            cond = Node("not", (cond,), line)
        self.take("name", "then")
        branches.append((cond, self.body("elsif", "else", "end")))
        while word == "if" and self.take("name", "elsif"):
            cond = self.condition()
            self.take("name", "then")
            branches.append((cond, self.body("elsif", "else", "end")))
        otherwise = self.body("end") if self.take("name", "else") else None
        self.expect("name", "end")
        return Node("if", (tuple(branches), otherwise), line)

    def condition(self) -> Node:
        """A condition, which may assign a match: `if m = /re/.match(output)`."""
        if self.tok.kind == "name" and self.toks[self.at + 1].value == "=":
            line = self.tok.line
            name = str(self.expect("name").value)
            self.expect("op", "=")
            return Node("assign", (name, self.expression()), line)
        return self.expression()

    def expression(self) -> Node:
        return self.binary(0)

    # Binary operators by precedence, lowest first (Ruby's order for this subset).
    LEVELS: tuple[tuple[str, ...], ...] = (("or", "and"), ("||",), ("&&",))
    LEVELS += (("==", "!=", "=~", "!~", "==="), ("<", "<=", ">", ">="), ("+", "-"))

    def binary(self, level: int) -> Node:
        if level == len(self.LEVELS):
            return self.unary()
        left = self.negated() if level == 0 else self.binary(level + 1)
        while True:
            line = self.tok.line
            op = self.op(*self.LEVELS[level])
            if op is None:
                return left
            self.newlines()
            right = self.negated() if level == 0 else self.binary(level + 1)
            if level >= 3 and self.tok.kind == "op" and self.tok.value in self.LEVELS[level]:
                raise self.fail(f"a chained {op}")
            left = Node(op, (left, right), line)

    def negated(self) -> Node:
        """An operand of `and` / `or`, which may be `not x`."""
        line = self.tok.line
        if self.op("not"):
            return Node("not", (self.negated(),), line)
        return self.ternary()

    def ternary(self) -> Node:
        cond = self.binary(1)
        if self.op("?"):
            line = self.tok.line
            self.newlines()
            yes = self.ternary()
            self.newlines()
            self.expect("op", ":")
            self.newlines()
            no = self.ternary()
            return Node("?:", (cond, yes, no), line)
        return cond

    def unary(self) -> Node:
        line = self.tok.line
        if self.op("!"):
            return Node("not", (self.unary(),), line)
        if self.op("-"):
            if self.tok.kind == "int":
                return Node("int", (-int(self.expect("int").value),), line)
            raise self.fail("a unary minus")
        node = self.postfix(self.primary())
        if self.tok.kind == "op" and self.tok.value in ("..", "..."):
            raise self.fail("a range (string slicing is not supported)")
        return node

    def postfix(self, node: Node) -> Node:
        while True:
            line = self.tok.line
            if self.take("op", "."):
                method = str(self.expect("name").value)
                args: tuple[Node, ...] = ()
                if self.take("op", "("):
                    args = self.arguments(")")
                block = self.block()
                node = Node("call", (node, method, args, block), line)
            elif self.tok.kind == "op" and self.tok.value == "[":
                self.at += 1
                index = self.arguments("]")
                node = Node("index", (node, index), line)
            else:
                return node

    def block(self) -> tuple[tuple[str, ...], list[Node]] | None:
        """A block `{ |x| ... }` or `do |x| ... end` after a call, when there is one."""
        if self.take("op", "{"):
            close = "}"
        elif self.take("name", "do"):
            close = "end"
        else:
            return None
        self.expect("op", "|")
        params = self.names("|")
        body = self.body(close)
        self.expect("op", "}") if close == "}" else self.expect("name", "end")
        return params, body

    def arguments(self, close: str) -> tuple[Node, ...]:
        self.newlines()
        args: list[Node] = []
        while not self.take("op", close):
            args.append(self.expression())
            self.newlines()
            if not self.take("op", ","):
                self.expect("op", close)
                break
            self.newlines()
        return tuple(args)

    def primary(self) -> Node:
        tok = self.tok
        line = tok.line
        if tok.kind in ("int", "str", "regex", "words", "symbol"):
            self.at += 1
            return Node(tok.kind, (tok.value,), line)
        if self.take("op", "("):
            self.newlines()
            inner = self.condition()
            self.newlines()
            self.expect("op", ")")
            return inner
        if self.take("op", "["):
            return Node("array", self.arguments("]"), line)
        if tok.kind == "name" and tok.value in ("nil", "true", "false"):
            self.at += 1
            return Node(str(tok.value), (), line)
        if tok.kind == "name" and tok.value not in KEYWORDS:
            self.at += 1
            if tok.value == "Regexp" and self.take("op", "."):
                method = str(self.expect("name").value)
                self.expect("op", "(")
                return Node("Regexp." + method, self.arguments(")"), line)
            if self.tok.kind == "op" and self.tok.value == "(":
                raise self.fail(f"a call of {tok.value}()")
            return Node("name", (tok.value,), line)
        raise self.fail("expected an expression")


def parse_lambda(text: str) -> tuple[tuple[str, ...], list[Node]]:
    """The parameter names and statements of a lambda's text."""
    return Parser(tokens(text)).lambda_()
