"""The Ruby judge as the worker uses it: the request and answer framing, its container made
once, locked down and reused, made again when it is gone, removed when it does not answer;
and judge.rb itself, run by this machine's ruby, judging as cyber-dojo's runner judges."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from runner import metrics
from runner.settings import Settings
from sandbox import agent
from sandbox.engine import ContainerSpec, Image, Outcome
from sandbox.host import ROLE_LABEL, Host
from sandbox.images import Images
from sandbox.ruby_judge import (
    ANSWER_S,
    FAULTY,
    JUDGE_ROLE,
    REQUEST_BYTES,
    TIME_LIMIT_S,
    JudgedLambda,
    RubyJudge,
    parse_verdict,
    request,
)
from sandbox.stub_engine import Behaviour, StubEngine
from tests.unit.local_judge import JUDGE_IMAGE, LocalRuby, local_judge, needs_ruby
from tests.unit.rag_lambdas import FAULTY as FAULTY_LAMBDAS
from tests.unit.rag_lambdas import JUDGED, Lambda
from traffic_lights.rules import ColourRules

GREEN_IF_0 = "lambda { |o, e, s| s === 0 ? :green : :red }"  # === is not translated


def test_a_request_is_framed_as_the_agent_frames_its_own() -> None:
    framed = request("ab12", GREEN_IF_0, "out\n", "err", 3)
    size, _, body = framed.partition(b"\n")
    assert int(size) == len(body)
    assert json.loads(body) == {
        "nonce": "ab12",
        "lambda": GREEN_IF_0,
        "stdout": "out\n",
        "stderr": "err",
        "status": 3,
    }
    assert framed == agent.frame(json.loads(body))


@pytest.mark.parametrize(
    "answer, verdict",
    [
        (b"ab12 3 0\nred", ("red", None)),
        (b"ab12 5 0\ngreen", ("green", None)),
        (b"ab12 6 9\nfaultyit raised", ("faulty", "it raised")),
        (b"ab12 6 0\nfaulty", ("faulty", "the lambda is faulty")),
        (b"", None),  # no answer in time
        (b"ab12 5 0\ngre", None),  # cut
        (b"ab12 6 0\norange", None),  # no colour the judge gives
        (b"ab12 x 0\nred", None),
    ],
)
def test_an_answer_gives_its_colour_and_a_faulty_one_its_reason(
    answer: bytes, verdict: tuple[str, str | None] | None
) -> None:
    assert parse_verdict(answer) == verdict


def answering(colour: bytes) -> Behaviour:
    """A judge container that answers every request with this colour."""

    def behave(spec: ContainerSpec, stdin: bytes) -> Outcome:
        nonce = json.loads(stdin.split(b"\n", 1)[1])["nonce"].encode()
        answer = b"%s %d 0\n%s" % (nonce, len(colour), colour)
        return Outcome(None, answer, b"", None, killed=False, elapsed_s=0.001)

    return behave


def stub_judge(behave: Behaviour, *, image: bool = True) -> tuple[RubyJudge, StubEngine]:
    engine = StubEngine(behave=behave)
    if image:
        engine.images[JUDGE_IMAGE] = Image("sha256:judge", {})
    return RubyJudge(Host(Settings(judge_image=JUDGE_IMAGE), engine), JUDGE_IMAGE), engine


def test_the_judge_container_is_made_once_locked_down_and_reused() -> None:
    judge, engine = stub_judge(answering(b"green"))
    assert judge.verdict(GREEN_IF_0, "", "", 0) == ("green", None)
    assert judge.verdict(GREEN_IF_0, "", "", 1) == ("green", None)
    assert len(engine.started) == 1 and len(engine.asked) == 2
    spec = engine.started[0]
    assert spec.labels[ROLE_LABEL] == JUDGE_ROLE and spec.open_stdin
    assert spec.user == "65534:65534" and spec.binds == {}
    assert spec.command[:3] == ["ruby", "--disable-gems", "-e"]
    limits = spec.limits
    assert (limits["network_mode"], limits["read_only"], limits["cap_drop"]) == (
        "none",
        True,
        ["ALL"],
    )
    assert limits["security_opt"] == ["no-new-privileges"]
    assert limits["log_config"] == {"type": "none"} and limits["auto_remove"] is True
    assert limits["mem_limit"] == limits["memswap_limit"] <= 128 * 1024 * 1024
    assert limits["pids_limit"] <= 8


def test_each_judgement_is_counted_by_its_colour() -> None:
    judge, _ = stub_judge(answering(b"amber"))
    counted = metrics.LAMBDA_JUDGEMENTS.labels("amber")
    before = counted._value.get()
    judge.verdict(GREEN_IF_0, "", "", 0)
    assert counted._value.get() == before + 1


def test_a_judge_that_is_gone_is_made_again() -> None:
    judge, engine = stub_judge(answering(b"red"))
    judge.verdict(GREEN_IF_0, "", "", 1)
    engine.remove_container(engine.asked[0][0])  # ended idle, or removed by an operator
    assert judge.verdict(GREEN_IF_0, "", "", 1) == ("red", None)
    assert len(engine.started) == 2


def test_a_judge_that_does_not_answer_is_removed_and_the_run_is_faulty() -> None:
    def silent(spec: ContainerSpec, stdin: bytes) -> Outcome:
        return Outcome(None, b"", b"", None, killed=True, elapsed_s=ANSWER_S)

    judge, engine = stub_judge(silent)
    colour, reason = judge.verdict(GREEN_IF_0, "", "", 0)
    assert colour == FAULTY and reason == f"the Ruby judge did not answer within {ANSWER_S} s"
    assert engine.removed == [engine.asked[0][0]]
    engine.behave = answering(b"amber")
    assert judge.verdict(GREEN_IF_0, "", "", 0) == ("amber", None)  # in a new one


def test_without_its_image_the_judge_gives_faulty_with_the_reason() -> None:
    judge, _ = stub_judge(answering(b"red"), image=False)
    colour, reason = judge.verdict(GREEN_IF_0, "", "", 0)
    assert colour == FAULTY and reason is not None and JUDGE_IMAGE in reason


def test_a_request_over_the_judges_bound_is_faulty_without_asking() -> None:
    judge, engine = stub_judge(answering(b"red"))
    colour, reason = judge.verdict(GREEN_IF_0, "x" * REQUEST_BYTES, "", 0)
    assert colour == FAULTY and reason is not None and "too long" in reason
    assert engine.asked == []


def test_the_judge_takes_only_what_the_translator_cannot_translate() -> None:
    judge, engine = stub_judge(answering(b"red"))
    images = Images(engine, judge=judge)
    assert isinstance(
        images.lambda_rules("lambda { |o, e, s| s == 0 ? :green : :red }"), ColourRules
    )
    judged = images.lambda_rules(GREEN_IF_0)
    assert judged == JudgedLambda(judge, GREEN_IF_0)
    assert engine.started == []  # a judge is made at the first judgement, not before
    without = Images(engine).lambda_rules(GREEN_IF_0)
    assert isinstance(without, str) and "===" in without


@pytest.fixture
def ruby() -> Iterator[LocalRuby]:
    local = LocalRuby()
    yield local
    local.close()


@needs_ruby
@pytest.mark.parametrize("rag", JUDGED, ids=[rag.name for rag in JUDGED])
def test_judge_rb_gives_each_samples_colour(ruby: LocalRuby, rag: Lambda) -> None:
    judge = local_judge(ruby)
    for stdout, stderr, status, colour in rag.samples:
        assert judge.verdict(rag.text, stdout, stderr, status) == (colour, None)


@needs_ruby
@pytest.mark.parametrize(
    "name, text, reason", FAULTY_LAMBDAS, ids=[n for n, _, _ in FAULTY_LAMBDAS]
)
def test_a_lambda_that_loops_floods_or_fails_is_faulty_quickly_and_the_judge_serves_on(
    ruby: LocalRuby, name: str, text: str, reason: str
) -> None:
    judge = local_judge(ruby)
    started = time.monotonic()
    colour, why = judge.verdict(text, "out", "err", 1)
    assert time.monotonic() - started < TIME_LIMIT_S + 1
    assert colour == FAULTY and why is not None and reason in why
    assert judge.verdict(GREEN_IF_0, "", "", 0) == ("green", None)
    assert len(ruby.processes) == 1  # the same judge: nothing of the lambda was left in it


@needs_ruby
def test_colours_are_taken_as_cyber_dojos_runner_takes_them(ruby: LocalRuby) -> None:
    judge = local_judge(ruby)
    for given in (":red", "'red'", '"red".to_sym', "Struct.new(:to_s).new('red')"):
        assert judge.verdict(f"lambda {{ |o, e, s| {given} }}", "", "", 0) == ("red", None)
    # The status is an Integer, and stdout and stderr the run's text, as they are there.
    echo = 'lambda { |o, e, s| o == "é\\n" && e == "" && s.equal?(3) ? :green : :red }'
    assert judge.verdict(echo, "é\n", "", 3) == ("green", None)


@needs_ruby
def test_nothing_of_one_lambda_is_seen_by_the_next(ruby: LocalRuby) -> None:
    judge = local_judge(ruby)
    leave = "lambda { |o, e, s| $left = 1; ENV['LEFT'] = '1'; class ::Left; end; :green }"
    assert judge.verdict(leave, "", "", 0) == ("green", None)
    look = "lambda { |o, e, s| $left || ENV['LEFT'] || defined?(::Left) ? :red : :green }"
    assert judge.verdict(look, "", "", 0) == ("green", None)


@needs_ruby
def test_what_a_lambda_prints_never_reaches_the_channel(ruby: LocalRuby) -> None:
    judge = local_judge(ruby)
    nonce_like = "lambda { |o, e, s| puts 'ab12 5 0'; $stdout.write('green'); STDOUT.flush; :red }"
    assert judge.verdict(nonce_like, "", "", 0) == ("red", None)
    assert judge.verdict(GREEN_IF_0, "", "", 0) == ("green", None)


@needs_ruby
def test_a_request_not_framed_ends_the_judge(ruby: LocalRuby) -> None:
    judge = local_judge(ruby)
    assert judge.verdict(GREEN_IF_0, "", "", 0) == ("green", None)
    container_id = judge.container
    engine = judge.host.engine
    assert engine.ask(container_id, b"not a size\n", b"ab12", 1.0) == b""
    [process] = ruby.processes.values()
    assert process.wait(timeout=5) == 0
