"""The runner's Lua scripts, loaded by name from runner/lua/, their keys and arguments bound
by name.

A script's first comment lines name what it takes, in the order Redis receives it:

    -- keys: lease queue inflight      (KEYS, in order; more `keys:` lines go on)
    -- args: token now                 (ARGV, in order; likewise)
    -- rest: fields                    (the arguments after the named ones, as a table)
    -- uses: end_job                   (fragments its body calls)

Redis runs the fragments (runner/lua/fragments/<name>.lua: `local function <name>`, each
once, before those that use it), then a prelude that binds every name (`local lease =
KEYS[1]`), then the script. The script never reads KEYS or ARGV itself, and callers pass
dicts by name, so a key or an argument cannot slip into another's place.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import redis

Arg = str | int | float
ROOT = resources.files("runner") / "lua"
HEADER = re.compile(r"--\s*(keys|args|rest|uses):(.*)")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LUA_WORDS = frozenset(
    {
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
        "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    }
)  # fmt: skip


class LuaScriptError(ValueError):
    """A script or fragment whose header or body breaks the rules above."""


@dataclass(frozen=True)
class LuaScript:
    """A script as Redis runs it, with the names of its keys and arguments in their order."""

    name: str
    keys: tuple[str, ...]
    args: tuple[str, ...]
    rest: str  # the name of the arguments after the named ones; "" when it takes none
    source: str

    def positional(
        self, keys: Mapping[str, str], args: Mapping[str, Arg], rest: Sequence[Arg] = ()
    ) -> tuple[list[str], list[Arg]]:
        """The KEYS and ARGV of a call that names them; TypeError when a name is missing or
        not the script's."""
        wrong = _mismatch("keys", self.keys, keys) + _mismatch("args", self.args, args)
        if rest and not self.rest:
            wrong.append(f"{len(rest)} arguments more, and it takes none")
        if wrong:
            raise TypeError(f"Lua script {self.name}: {'; '.join(wrong)}")
        return [keys[k] for k in self.keys], [args[a] for a in self.args] + list(rest)


class Registered:
    """A script registered with a Redis client, called with its keys and arguments by name."""

    def __init__(self, client: redis.Redis, script: LuaScript) -> None:
        self.script = script
        self._run = client.register_script(script.source)

    def __call__(
        self, keys: Mapping[str, str], args: Mapping[str, Arg], rest: Sequence[Arg] = ()
    ) -> Any:
        ordered_keys, ordered_args = self.script.positional(keys, args, rest)
        return self._run(keys=ordered_keys, args=ordered_args)


def register(client: redis.Redis, name: str) -> Registered:
    """The script runner/lua/<name>.lua, registered with the client."""
    return Registered(client, load(name))


@functools.cache
def load(name: str, root: Traversable = ROOT) -> LuaScript:
    """The script <name>.lua of root, its fragments and prelude before it."""
    text = _read(root / f"{name}.lua", f"Lua script {name}")
    header = _header(text, name)
    keys, args, rest = header["keys"], header["args"], header["rest"]
    names = keys + args + rest
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise LuaScriptError(f"Lua script {name}: {', '.join(twice)} named twice")
    if len(rest) > 1:
        raise LuaScriptError(f"Lua script {name}: one name of the rest, not {len(rest)}")
    body = "\n".join(line for line in text.splitlines() if not HEADER.fullmatch(line.strip()))
    if re.search(r"\b(KEYS|ARGV)\s*\[", body):
        raise LuaScriptError(f"Lua script {name}: reads KEYS or ARGV itself; name them instead")
    unused = [n for n in names if not re.search(rf"\b{n}\b", body)]
    if unused:
        raise LuaScriptError(f"Lua script {name}: {', '.join(unused)} named but never used")
    prelude = [f"local {k} = KEYS[{i}]\n" for i, k in enumerate(keys, 1)]
    prelude += [f"local {a} = ARGV[{i}]\n" for i, a in enumerate(args, 1)]
    prelude += [f"local {r} = {{unpack(ARGV, {len(args) + 1})}}\n" for r in rest]
    fragments = _fragments(header["uses"], root, name)
    source = "".join(fragments) + "".join(prelude) + text
    return LuaScript(name, keys, args, rest[0] if rest else "", source)


def _fragments(uses: tuple[str, ...], root: Traversable, user: str) -> list[str]:
    """The texts of the fragments used, and of those they use, each once, each after the
    fragments it uses."""
    texts: dict[str, str] = {}

    def include(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise LuaScriptError(f"Lua fragments use each other: {' -> '.join((*path, name))}")
        if name in texts:
            return
        text = _read(root / "fragments" / f"{name}.lua", f"Lua fragment {name} (of {user})")
        header = _header(text, name)
        if header["keys"] or header["args"] or header["rest"]:
            raise LuaScriptError(f"Lua fragment {name}: takes parameters, not keys or args")
        if not re.search(rf"^local function {name}\(", text, re.MULTILINE):
            raise LuaScriptError(f"Lua fragment {name}: defines no local function {name}")
        for used in header["uses"]:
            include(used, (*path, name))
        texts[name] = text

    for name in uses:
        include(name, (user,))
    return list(texts.values())


def _header(text: str, where: str) -> dict[str, tuple[str, ...]]:
    """The names of the header's lines, by kind: the leading comment lines only."""
    found: dict[str, tuple[str, ...]] = {"keys": (), "args": (), "rest": (), "uses": ()}
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        matched = HEADER.fullmatch(line.strip())
        if matched:
            names = tuple(matched[2].split())
            bad = [n for n in names if not NAME.fullmatch(n) or n in LUA_WORDS]
            if bad:
                raise LuaScriptError(f"{where}: {', '.join(bad)}: not a Lua name")
            found[matched[1]] += names
    return found


def _read(path: Traversable, what: str) -> str:
    if not path.is_file():
        raise LuaScriptError(f"{what}: no file {path.name}")
    return path.read_text()


def _mismatch(kind: str, names: tuple[str, ...], given: Mapping[str, object]) -> list[str]:
    """What is wrong with the names given for the script's names of one kind."""
    wrong = []
    missing = [n for n in names if n not in given]
    if missing:
        wrong.append(f"missing {kind}: {', '.join(missing)}")
    unknown = sorted(set(given) - set(names))
    if unknown:
        wrong.append(f"unknown {kind}: {', '.join(unknown)}")
    return wrong
