"""The Ruby judge in its container on the real engine: lambdas the translator cannot translate
get the colour this machine's ruby gives them; a lambda that loops, floods, fails or attacks
its judge is faulty, quickly; the container is locked down, made again when it stops
answering, and ends by itself when idle."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import pytest

from runner.errors import ContainerGone
from sandbox import ruby_judge
from sandbox.host import Host
from sandbox.ruby_judge import ANSWER_S, FAULTY, TIME_LIMIT_S, RubyJudge
from tests.conftest import sdk
from tests.unit.local_judge import needs_ruby
from tests.unit.rag_lambdas import FAULTY as FAULTY_LAMBDAS
from tests.unit.rag_lambdas import JUDGED, Lambda
from tests.unit.test_lambdas_ruby import outputs, ruby_colours

GREEN_IF_0 = "lambda { |o, e, s| s === 0 ? :green : :red }"

# What a lambda might try against its judge, in the container: each fails, or does nothing.
HOSTILE = [
    ("forks", "lambda { |o, e, s| system('true') ? :green : :red }", "did not end within"),
    ("starts a thread", "lambda { |o, e, s| Thread.new { }.join; :green }", "ThreadError"),
    ("writes the root", "lambda { |o, e, s| File.write('/judged', 'x'); :green }", "EROFS"),
    (
        "writes its judge's stdout",
        "lambda { |o, e, s| File.write('/proc/1/fd/1', 'x'); :green }",
        "Errno::EACCES",
    ),
    (
        "reads its judge's memory",
        "lambda { |o, e, s| File.read('/proc/1/environ'); :green }",
        "Errno::EACCES",
    ),
    (
        "connects",
        "lambda { |o, e, s| require 'socket'; TCPSocket.new('1.1.1.1', 80); :green }",
        "raised Errno::ENETUNREACH",
    ),
    (  # the container's first process gets no signal it does not handle
        "signals its judge",
        "lambda { |o, e, s| Process.kill(:TERM, 1); sleep 0.2; :green }",
        "green",
    ),
]


@pytest.fixture
def judge(host: Host) -> Iterator[RubyJudge]:
    """A Ruby judge of its own on the host, removed after the test."""
    made = RubyJudge(host, host.settings.judge_image)
    yield made
    made.close()


@needs_ruby
@pytest.mark.parametrize("rag", JUDGED, ids=[rag.name for rag in JUDGED])
def test_an_untranslatable_lambda_gets_the_colour_ruby_gives_it(
    judge: RubyJudge, rag: Lambda
) -> None:
    cases = outputs(rag, 60)
    expected = ruby_colours(rag, cases)
    given = [judge.verdict(rag.text, *case) for case in cases]
    assert given == [(colour, None) for colour in expected]


@pytest.mark.parametrize(
    "name, text, reason", FAULTY_LAMBDAS + HOSTILE, ids=[n for n, _, _ in FAULTY_LAMBDAS + HOSTILE]
)
def test_a_lambda_that_loops_floods_fails_or_attacks_is_faulty_quickly(
    judge: RubyJudge, name: str, text: str, reason: str
) -> None:
    judge.verdict(GREEN_IF_0, "", "", 0)  # the judge made first: its time is not the lambda's
    started = time.monotonic()
    colour, why = judge.verdict(text, "out", "err", 1)
    assert time.monotonic() - started < TIME_LIMIT_S + 1
    if reason == "green":
        assert (colour, why) == ("green", None)
    else:
        assert colour == FAULTY and why is not None and reason in why, why
    assert judge.verdict(GREEN_IF_0, "", "", 0) == ("green", None)


def test_a_lambda_that_kills_its_judge_is_faulty_and_the_judge_is_made_again(
    judge: RubyJudge,
) -> None:
    assert judge.verdict(GREEN_IF_0, "", "", 0) == ("green", None)
    first = judge.container
    colour, why = judge.verdict("lambda { |o, e, s| Process.kill(:SEGV, 1); sleep 1 }", "", "", 0)
    assert colour == FAULTY and why is not None
    assert judge.verdict(GREEN_IF_0, "", "", 1) == ("red", None)
    assert judge.container not in ("", first)


def test_the_judge_container_is_locked_down(host: Host, judge: RubyJudge) -> None:
    judge.verdict(GREEN_IF_0, "", "", 0)
    found = sdk(host).api.inspect_container(judge.container)
    config, limits = found["Config"], found["HostConfig"]
    assert config["User"] == "65534:65534" and config["OpenStdin"] is True
    assert limits["NetworkMode"] == "none" and limits["ReadonlyRootfs"] is True
    assert limits["CapDrop"] == ["ALL"] and not limits["CapAdd"]
    assert limits["SecurityOpt"] == ["no-new-privileges"]
    assert limits["Memory"] == limits["MemorySwap"] == ruby_judge.MEMORY_BYTES
    assert limits["PidsLimit"] == ruby_judge.PIDS
    assert limits["LogConfig"]["Type"] == "none" and limits["AutoRemove"] is True
    assert not found["Mounts"]


def test_a_judge_that_stops_answering_is_removed_and_made_again(
    host: Host, judge: RubyJudge
) -> None:
    judge.verdict(GREEN_IF_0, "", "", 0)
    stuck = judge.container
    sdk(host).api.kill(stuck, signal="SIGSTOP")  # running, attached to, silent
    started = time.monotonic()
    colour, why = judge.verdict(GREEN_IF_0, "", "", 0)
    assert time.monotonic() - started < ANSWER_S + 2
    assert (colour, why) == (FAULTY, f"the Ruby judge did not answer within {ANSWER_S} s")
    assert all(c.id != stuck for c in host.engine.containers(host.ours()))
    assert judge.verdict(GREEN_IF_0, "", "", 0) == ("green", None)
    assert judge.container != stuck


def test_a_judge_paused_is_replaced_at_once(host: Host, judge: RubyJudge) -> None:
    judge.verdict(GREEN_IF_0, "", "", 0)
    paused = judge.container
    sdk(host).api.pause(paused)  # the engine attaches to no paused container
    try:
        assert judge.verdict(GREEN_IF_0, "", "", 1) == ("red", None)
        assert judge.container != paused
        assert all(c.id != paused for c in host.engine.containers(host.ours()))
    finally:
        host.engine.remove_container(paused)


def test_an_idle_judge_ends_by_itself_and_the_next_judgement_makes_another(
    host: Host, judge: RubyJudge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ruby_judge, "IDLE_S", 1)
    judge.verdict(GREEN_IF_0, "", "", 0)
    idle = judge.container
    gone = time.monotonic() + 15
    while any(c.id == idle for c in host.engine.containers(host.ours())):
        assert time.monotonic() < gone, "the idle judge did not end"
        time.sleep(0.2)
    with pytest.raises(ContainerGone):
        host.engine.ask(idle, b"", b"x", 1.0)
    assert judge.verdict(GREEN_IF_0, "", "", 1) == ("red", None)
    assert judge.container != idle


def test_a_judgement_costs_milliseconds(judge: RubyJudge) -> None:
    judge.verdict(GREEN_IF_0, "", "", 0)
    spans = []
    for status in range(20):
        started = time.perf_counter()
        judge.verdict(GREEN_IF_0, "out\n" * 100, "", status)
        spans.append(time.perf_counter() - started)
    assert statistics.median(spans) < 0.2
