"""Ruby (Onigmo) regular expressions rewritten as Python `re` patterns of the same meaning.

The result is compiled by the colour rules with re.MULTILINE, whose `$` is Ruby's `$`. What
differs is rewritten: Ruby's `^` does not match after a newline that ends the text, `\\z` is
Python's `\\Z`, Ruby's `\\Z` allows a final newline, `\\d \\w \\s` are ASCII in Ruby, `\\h` is
a hex digit, `(?<name>...)` is Python's `(?P<name>...)` (and makes Ruby's plain groups
non-capturing), and Ruby's `m` flag is Python's `s`.
What has no exact counterpart is refused with RubyRegexError rather than guessed.
"""

from __future__ import annotations

import re

from traffic_lights.errors import RubyRegexError

_CARET = r"(?:\A|(?<=\n)(?!\Z))"  # Ruby's ^: at the start, or after a newline not at the end
_SPACE = r" \t\n\v\f\r"
# Escapes of Ruby's ASCII classes: (outside a bracket, inside one or None when not possible).
_CLASSES = {
    "d": ("[0-9]", "0-9"),
    "D": ("[^0-9]", None),
    "w": ("[a-zA-Z0-9_]", "a-zA-Z0-9_"),
    "W": ("[^a-zA-Z0-9_]", None),
    "s": (f"[{_SPACE}]", _SPACE),
    "S": (f"[^{_SPACE}]", None),
    "h": ("[0-9a-fA-F]", "0-9a-fA-F"),
    "H": ("[^0-9a-fA-F]", None),
}
_SAME = set("bBAntrfv0123456789") | set(r"\.^$|?*+()[]{}/-#: '\"<>=!,&~@%;`")
_CONTROL = {"e": r"\x1b", "a": r"\x07"}
# POSIX bracket classes with a Python counterpart that agrees on ASCII and on letters
# and digits of other scripts.
_POSIX = {"digit": r"\d", "alpha": None, "alnum": None, "space": _SPACE, "xdigit": "0-9a-fA-F"}
_POSIX_ALONE = {"alpha": r"[^\W\d_]", "alnum": r"[^\W_]"}
_FLAGS = {"i": "i", "m": "s", "x": "x"}


def python_pattern(source: str, flags: str = "") -> str:
    """The Python pattern (with inline flags) equivalent to Ruby's /source/flags."""
    bad = set(flags) - set("imxo")
    if bad:
        raise RubyRegexError(f"regex flag {''.join(sorted(bad))!r} is not supported")
    prefix = "".join(_FLAGS[f] for f in "imx" if f in flags)
    body = _Rewriter(source, extended="x" in flags).rewrite()
    pattern = f"(?{prefix}){body}" if prefix else body
    try:
        re.compile(pattern, re.MULTILINE)
    except re.error as error:
        raise RubyRegexError(f"regex /{source}/ is not valid: {error}") from error
    return pattern


class _Rewriter:
    def __init__(self, source: str, *, extended: bool) -> None:
        self.source = source
        self.extended = extended
        self.at = 0
        self.out: list[str] = []
        # With a named group, Ruby's plain (...) groups do not capture.
        self.named = re.search(r"\(\?<(?![=!])", source) is not None

    def fail(self, what: str) -> RubyRegexError:
        return RubyRegexError(f"regex /{self.source}/: {what} has no exact Python equivalent")

    def rewrite(self) -> str:
        s = self.source
        while self.at < len(s):
            c = s[self.at]
            if c == "\\":
                self.out.append(self.escape(in_class=False))
            elif c == "[":
                self.out.append(self.bracket())
            elif c == "^":
                self.out.append(_CARET)
                self.at += 1
            elif c == "(":
                self.out.append(self.group_open())
            elif c == "#" and self.extended:
                end = s.find("\n", self.at)
                end = len(s) if end < 0 else end
                self.out.append(s[self.at : end])
                self.at = end
            else:
                self.out.append(c)
                self.at += 1
        return "".join(self.out)

    def escape(self, *, in_class: bool) -> str:
        s = self.source
        if self.at + 1 >= len(s):
            raise RubyRegexError(f"regex /{s}/ ends with a backslash")
        c = s[self.at + 1]
        self.at += 2
        if c in _CLASSES:
            outside, inside = _CLASSES[c]
            if in_class:
                if inside is None:
                    raise self.fail(f"\\{c} inside [...]")
                return inside
            return outside
        if c == "z" and not in_class:
            return r"\Z"
        if c == "Z" and not in_class:
            return r"(?=\n?\Z)"
        if c in _CONTROL:
            return _CONTROL[c]
        if c == "x":
            digits = re.match(r"[0-9a-fA-F]{1,2}", s[self.at :])
            if digits is None:
                raise self.fail("\\x without hex digits")
            self.at += len(digits.group())
            return f"\\x{int(digits.group(), 16):02x}"
        if c == "u":
            digits = re.match(r"[0-9a-fA-F]{4}", s[self.at :])
            if digits is None:
                raise self.fail("\\u other than \\uHHHH")
            self.at += 4
            return f"\\u{digits.group()}"
        if c in "bB" and in_class:
            raise self.fail(f"\\{c} inside [...]")
        if c in _SAME:
            return "\\" + c
        raise self.fail(f"\\{c}")

    def bracket(self) -> str:
        """A bracket expression [...]: its items rewritten, nested classes refused."""
        s = self.source
        self.at += 1
        negated = s.startswith("^", self.at)
        self.at += negated
        items: list[str] = []
        alone: list[str] = []
        first = True
        while True:
            if self.at >= len(s):
                raise RubyRegexError(f"regex /{s}/ has an unclosed [")
            c = s[self.at]
            if c == "]" and not first:
                self.at += 1
                break
            if c == "]":
                raise self.fail("[] or []...]")
            if s.startswith("[:", self.at):
                end = s.find(":]", self.at)
                name = s[self.at + 2 : end] if end > 0 else ""
                if name in _POSIX_ALONE:
                    alone.append(_POSIX_ALONE[name])
                elif name in _POSIX:
                    items.append(str(_POSIX[name]))
                else:
                    raise self.fail(f"[:{name}:]")
                self.at = end + 2
            elif c == "[":
                raise self.fail("a nested [...]")
            elif s.startswith("&&", self.at):
                raise self.fail("an && intersection in [...]")
            elif c == "\\":
                items.append(self.escape(in_class=True))
            elif c in "&~|":
                items.append("\\" + c)
                self.at += 1
            else:
                items.append(c)
                self.at += 1
            first = False
        inner = "".join(items)
        if not alone:
            return f"[{'^' if negated else ''}{inner}]"
        if negated:
            # Not any of them: a character that none of the alternatives is.
            rest = f"[^{inner}]" if inner else r"[\s\S]"
            return "".join(f"(?!{a})" for a in alone) + rest
        return "(?:" + "|".join(([f"[{inner}]"] if inner else []) + alone) + ")"

    def group_open(self) -> str:
        s = self.source
        self.at += 1
        if not s.startswith("?", self.at):
            return "(?:" if self.named else "("
        rest = s[self.at + 1 :]
        if rest.startswith("<") and not rest.startswith(("<=", "<!")):
            self.at += 2
            return "(?P<"
        if rest.startswith(("<=", "<!", ":", "=", "!", ">", "#")):
            return "("
        flags = re.match(r"([imx]*)(?:-([imx]*))?([:)])", rest)
        if flags is None:
            raise self.fail(f"the group (?{rest[:3]}")
        if flags.group(3) == ")":
            raise self.fail("an inline flag group (?flags) that is not scoped (?flags:...)")
        self.at += 1 + len(flags.group())
        on = "".join(_FLAGS[f] for f in flags.group(1))
        off = "".join(_FLAGS[f] for f in flags.group(2) or "")
        return f"(?{on}{'-' + off if off else ''}:"
