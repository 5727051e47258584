"""The Lua scripts load by name: each names its keys and arguments, a call must give exactly
those, and the fragments a script uses come before it, each once."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.lua_scripts import ROOT, LuaScript, LuaScriptError, load

SCRIPTS = sorted(p.name.removesuffix(".lua") for p in ROOT.iterdir() if p.name.endswith(".lua"))


def write(root: Path, name: str, text: str) -> None:
    path = root / f"{name}.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "fragments/end_job", "local function end_job(job)\n  return job\nend\n")
    write(
        tmp_path,
        "fragments/fail_job",
        "-- uses: end_job\nlocal function fail_job(job)\n  return end_job(job)\nend\n",
    )
    write(
        tmp_path,
        "finish",
        "-- Ends a job.\n-- keys: job done\n-- args: state now\n-- rest: fields\n"
        "-- uses: fail_job end_job\n"
        "return {end_job(job), fail_job(done), state, now, #fields}\n",
    )
    return tmp_path


def finish(root: Path) -> LuaScript:
    return load("finish", root)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_of_the_runner_loads_and_binds_its_names(name: str) -> None:
    script = load(name)
    assert script.keys, "every script touches a key"
    for index, key in enumerate(script.keys, 1):
        assert f"local {key} = KEYS[{index}]\n" in script.source


def test_the_runner_has_its_scripts_and_one_end_of_a_job() -> None:
    assert {"submit", "take", "finish", "orphans", "host_lost"} <= set(SCRIPTS)
    for name in ("finish", "orphans", "host_lost", "submit"):
        source = load(name).source
        assert source.count("local function end_job(") == 1, name
        assert source.count("'HDEL'") == 1, f"{name} ends a job only through end_job"


def test_a_call_by_name_becomes_keys_and_args_in_the_headers_order(root: Path) -> None:
    keys, args = finish(root).positional(
        {"done": "job:1:done", "job": "job:1"}, {"now": "t", "state": "done"}, ["a", "b"]
    )
    assert keys == ["job:1", "job:1:done"]
    assert args == ["done", "t", "a", "b"]


@pytest.mark.parametrize(
    ("keys", "args", "said"),
    [
        ({"job": "j"}, {"state": "s", "now": "t"}, "missing keys: done"),
        ({"job": "j", "done": "d"}, {"state": "s"}, "missing args: now"),
        (
            {"job": "j", "done": "d", "lease": "l"},
            {"state": "s", "now": "t"},
            "unknown keys: lease",
        ),
        ({"job": "j", "done": "d"}, {"state": "s", "now": "t", "ttl_s": 1}, "unknown args: ttl_s"),
    ],
)
def test_a_missing_or_unknown_name_is_refused_by_name(
    root: Path, keys: dict[str, str], args: dict[str, str], said: str
) -> None:
    with pytest.raises(TypeError, match=f"Lua script finish: {said}"):
        finish(root).positional(keys, args)


def test_more_arguments_are_refused_by_a_script_that_takes_no_rest(root: Path) -> None:
    write(root, "plain", "-- keys: job\nreturn job\n")
    with pytest.raises(TypeError, match="2 arguments more"):
        load("plain", root).positional({"job": "j"}, {}, ["a", "b"])


def test_fragments_come_first_each_once_each_after_those_it_uses(root: Path) -> None:
    source = finish(root).source
    assert source.count("local function end_job(") == 1
    assert source.count("local function fail_job(") == 1
    end_job, fail_job = source.index("function end_job("), source.index("function fail_job(")
    prelude = source.index("local job = KEYS[1]")
    assert end_job < fail_job < prelude < source.index("-- Ends a job.")
    assert "local fields = {unpack(ARGV, 3)}\n" in source


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("lost", "-- keys: job\n-- uses: nowhere\nreturn job\n", "no file nowhere.lua"),
        ("twice", "-- keys: job\n-- args: job\nreturn job\n", "job named twice"),
        ("raw", "-- keys: job\nreturn {job, KEYS[1]}\n", "reads KEYS or ARGV itself"),
        ("idle", "-- keys: job\n-- args: spare\nreturn job\n", "spare named but never used"),
        ("word", "-- keys: end\nreturn 1\n", "end: not a Lua name"),
        ("rests", "-- rest: a b\nreturn {a, b}\n", "one name of the rest"),
    ],
)
def test_a_script_that_breaks_the_rules_does_not_load(
    root: Path, name: str, text: str, said: str
) -> None:
    write(root, name, text)
    with pytest.raises(LuaScriptError, match=said):
        load(name, root)


def test_fragments_that_use_each_other_round_a_circle_do_not_load(root: Path) -> None:
    write(root, "fragments/a", "-- uses: b\nlocal function a() return b() end\n")
    write(root, "fragments/b", "-- uses: a\nlocal function b() return a() end\n")
    write(root, "circle", "-- uses: a\nreturn a()\n")
    with pytest.raises(LuaScriptError, match="circle -> a -> b -> a"):
        load("circle", root)


def test_a_fragment_defines_its_function_and_takes_no_keys(root: Path) -> None:
    write(root, "fragments/other", "local function else_entirely() end\n")
    write(root, "uses_other", "-- uses: other\nreturn 1\n")
    with pytest.raises(LuaScriptError, match="defines no local function other"):
        load("uses_other", root)
    write(root, "fragments/keyed", "-- keys: job\nlocal function keyed() end\n")
    write(root, "uses_keyed", "-- uses: keyed\nreturn 1\n")
    with pytest.raises(LuaScriptError, match="not keys or args"):
        load("uses_keyed", root)
