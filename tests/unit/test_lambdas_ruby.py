"""The translation and the Ruby judge against real Ruby: each test lambda, evaluated by Ruby
on generated outputs, must give the colours its translated rules give; and through the
runner (translated, or judged by judge.rb where it cannot be) every lambda gets Ruby's colour,
never faulty where Ruby gives one. Skipped where `ruby` is missing.

Ruby runs here as the reference the runner follows, and as the judge's process that the
runner keeps in a container of its own (tests/unit/local_judge.py); the runner's own
processes never run it.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from sandbox.images import Images
from sandbox.report import Frames
from sandbox.results import Judge, run_result
from tests.unit.local_judge import LocalRuby, local_judge
from tests.unit.rag_lambdas import IMAGE_LAMBDAS, IMAGES, JUDGED, LAMBDAS, Lambda
from traffic_lights.lambdas import translate
from traffic_lights.rules import ColourRules

pytestmark = pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed")

# Reads {"lambda": text, "cases": [[stdout, stderr, status], ...]} and prints the colours,
# as cyber-dojo's runner judges them (anything else, or a raise, is faulty).
DRIVER = r"""
require 'json'
def empty_binding = binding
input = JSON.parse($stdin.read)
rag = eval(input['lambda'], empty_binding)
colours = input['cases'].map do |stdout, stderr, status|
  colour = rag.call(stdout, stderr, status).to_s
  %w[red amber green].include?(colour) ? colour : 'faulty'
rescue StandardError
  'faulty'
end
puts JSON.generate(colours)
"""

SEPARATORS = ["", " ", "\n", "\n\n", "\t", ": "]
STATUSES = [0, 0, 1, 2, 3, 127, 137, 139]


def outputs(rag: Lambda, count: int = 300) -> list[tuple[str, str, int]]:
    """The lambda's samples, then outputs mixing its words, line breaks and statuses."""
    pick = random.Random(rag.name)
    cases = [(stdout, stderr, status) for stdout, stderr, status, _ in rag.samples]
    words = [*rag.words, "x", "0", "1"]
    while len(cases) < count:
        parts = []
        for _ in range(pick.randint(0, 5)):
            parts += [pick.choice(words), pick.choice(SEPARATORS)]
        text = "".join(parts)
        cut = pick.randint(0, len(text))
        stdout, stderr = (text[:cut], text[cut:]) if pick.random() < 0.3 else (text, "")
        if pick.random() < 0.2:
            stdout, stderr = stderr, stdout
        cases.append((stdout, stderr, pick.choice(STATUSES)))
    return cases


def ruby_colours(rag: Lambda, cases: list[tuple[str, str, int]]) -> list[str]:
    """The colours Ruby gives the lambda on each case, as cyber-dojo's runner takes them."""
    ruby = subprocess.run(
        ["ruby", "-e", DRIVER],
        input=json.dumps({"lambda": rag.text, "cases": cases}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    colours: list[str] = json.loads(ruby.stdout)
    return colours


def colour(rules: ColourRules | Judge | str, stdout: str, stderr: str, status: int) -> str:
    """The colour of a run with this output, as the runner gives it in the run's result."""
    frames = Frames(status=status, stdout=stdout.encode(), stderr=stderr.encode())
    return run_result(
        frames,
        exit_code=status,
        killed=False,
        oom_killed=False,
        elapsed_ms=1,
        rules=rules,
        output_bytes=1 << 20,
        file_bytes=1,
        max_created=0,
        max_changed=0,
        result_bytes=1 << 22,
    )["colour"]


@pytest.mark.parametrize("rag", LAMBDAS, ids=[rag.name for rag in LAMBDAS])
def test_the_translation_agrees_with_ruby(rag: Lambda) -> None:
    cases = outputs(rag)
    expected = ruby_colours(rag, cases)
    rules = translate(rag.text)
    disagreements = [
        (case, colour, rules.colour(*case))
        for case, colour in zip(cases, expected, strict=True)
        if rules.colour(*case) != colour
    ]
    assert disagreements == []


@pytest.fixture
def ruby() -> Iterator[LocalRuby]:
    local = LocalRuby()
    yield local
    local.close()


EVERY = [*LAMBDAS, *JUDGED, *IMAGE_LAMBDAS]


def test_every_image_lambda_is_among_them() -> None:
    images = {path.parent.name for path in IMAGES.glob("*/red_amber_green.rb")}
    assert {rag.name.removesuffix("'s") for rag in IMAGE_LAMBDAS} == images


@pytest.mark.parametrize("rag", EVERY, ids=[rag.name for rag in EVERY])
def test_through_the_runner_every_lambda_gets_rubys_colour(ruby: LocalRuby, rag: Lambda) -> None:
    cases = outputs(rag, 120)
    expected = ruby_colours(rag, cases)
    judge = local_judge(ruby)
    rules = Images(judge.host.engine, judge=judge).lambda_rules(rag.text)
    given = [colour(rules, *case) for case in cases]
    assert [c for c in expected if c == "faulty"] == []  # Ruby gives every case a colour
    assert given == expected
