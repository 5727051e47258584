"""cyber-dojo's traffic-light lambdas translated into colour rules: each shape, each
difference between Ruby's regexes and Python's, and what is refused, with its reason."""

from __future__ import annotations

import json

import pytest

from sandbox.images import Images
from sandbox.stub_engine import StubEngine
from tests.unit.rag_lambdas import JUDGED, LAMBDAS, REFUSED, Lambda
from traffic_lights.__main__ import main
from traffic_lights.errors import BadRules, RubyRegexError, Untranslatable
from traffic_lights.lambdas import lambda_key, rules_for_lambda, translate
from traffic_lights.ruby_regex import python_pattern
from traffic_lights.rules import parse_rules

SAMPLES = [(rag, *sample) for rag in LAMBDAS for sample in rag.samples]


@pytest.mark.parametrize(
    "rag, stdout, stderr, status, colour",
    SAMPLES,
    ids=[f"{s[0].name}-{i}" for i, s in enumerate(SAMPLES)],
)
def test_a_translated_lambda_gives_the_colour_ruby_would(
    rag: Lambda, stdout: str, stderr: str, status: int, colour: str
) -> None:
    assert translate(rag.text).colour(stdout, stderr, status) == colour


@pytest.mark.parametrize("text, reason", REFUSED, ids=[r for _, r in REFUSED])
def test_a_lambda_outside_the_subset_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(Untranslatable) as refused:
        translate(text)
    assert reason in str(refused.value)
    assert isinstance(rules_for_lambda(text), str)


@pytest.mark.parametrize("rag", JUDGED, ids=[rag.name for rag in JUDGED])
def test_the_lambdas_for_the_ruby_judge_stay_beyond_the_translator(rag: Lambda) -> None:
    assert isinstance(rules_for_lambda(rag.text), str)


@pytest.mark.parametrize(
    "ruby, flags, python",
    [
        ("^a$", "", r"(?:\A|(?<=\n)(?!\Z))a$"),
        (r"\Aa\z", "", r"\Aa\Z"),
        (r"a\Z", "", r"a(?=\n?\Z)"),
        (r"\h+", "", "[0-9a-fA-F]+"),
        (r"[\h_]", "", "[0-9a-fA-F_]"),
        (r"\d\w\s", "", r"[0-9][a-zA-Z0-9_][ \t\n\v\f\r]"),
        ("[[:digit:]x]", "", r"[\dx]"),
        ("[[:alpha:]]", "", r"(?:[^\W\d_])"),
        ("[^[:alpha:]]", "", r"(?![^\W\d_])[\s\S]"),
        ("(?<n>a)", "", "(?P<n>a)"),
        ("a.b", "m", "(?s)a.b"),
        ("a", "ix", "(?ix)a"),
        ("(?m:a.)", "", "(?s:a.)"),
        (r"a\/b\e", "", r"a\/b\x1b"),
    ],
)
def test_ruby_regex_syntax_becomes_python(ruby: str, flags: str, python: str) -> None:
    assert python_pattern(ruby, flags) == python


@pytest.mark.parametrize(
    "ruby", [r"\G", r"\K", r"\p{L}", "[[:upper:]]", "[a[b]]", "[a&&b]", "(?i)a", r"[\D]", "a", "x"]
)
def test_ruby_regex_without_an_exact_python_equivalent_is_refused(ruby: str) -> None:
    if ruby in ("a", "x"):
        with pytest.raises(RubyRegexError, match="flag"):
            python_pattern(ruby, "n" if ruby == "a" else "u")
        return
    with pytest.raises(RubyRegexError):
        python_pattern(ruby)


def test_a_translation_is_made_once_per_lambda_text() -> None:
    text = LAMBDAS[0].text
    assert translate(text) is translate(text)


def test_new_rules_are_validated_strictly() -> None:
    good = {"rules": [{"colour": "red", "when": {"not": {"status": [0]}}}], "otherwise": "green"}
    assert parse_rules(good).colour("", "", 1) == "red"
    for when in [
        {"status": "0"},
        {"stdout": "(", "x": 1},
        {"compare": [{"group": 1}, "==", "1"]},  # a group outside first/some
        {
            "first": {
                "in": "output",
                "pattern": "(a)",
                "where": {"compare": [{"group": 2}, "==", 1]},
            }
        },
        {"compare": [{"status": None}, "<", "1"]},
        {"some": {"in": "elsewhere", "pattern": "a", "where": {"all": []}}},
        {"compare": [{"+": [1, "a"]}, "==", 1]},
        {"maybe": 1},
    ]:
        with pytest.raises(BadRules):
            parse_rules({"rules": [{"colour": "red", "when": when}]})


def test_the_operators_rules_for_a_lambda_win_over_its_translation() -> None:
    text = "lambda { |o, e, s| return :orange }"
    assert isinstance(Images(StubEngine()).lambda_rules(text), str)
    images = Images(StubEngine(), {lambda_key(text): {"rules": [], "otherwise": "green"}})
    rules = images.lambda_rules(text)
    assert not isinstance(rules, str) and rules.colour("", "", 0) == "green"


def test_the_command_prints_the_rules_and_the_colour(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    lambda_file = tmp_path / "red_amber_green.rb"  # type: ignore[operator]
    lambda_file.write_text(LAMBDAS[0].text)
    stdout = tmp_path / "stdout"  # type: ignore[operator]
    stdout.write_text("All 2 tests passed")
    assert main(["translate", str(lambda_file)]) == 0
    assert json.loads(capsys.readouterr().out)["otherwise"] == "amber"
    assert main(["colour", str(lambda_file), "--stdout", str(stdout)]) == 0
    assert capsys.readouterr().out == "green\n"
    lambda_file.write_text("lambda { |o, e, s| return :orange }")
    assert main(["colour", str(lambda_file)]) == 1
    assert capsys.readouterr().out.startswith("faulty: cannot translate")
