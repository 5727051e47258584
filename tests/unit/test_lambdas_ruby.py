"""The translation against real Ruby: each test lambda, evaluated by Ruby on generated
outputs, must give the colours its translated rules give. Skipped where `ruby` is missing.

Only this test runs Ruby (the runner never does), as the reference the translation follows.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from tests.unit.rag_lambdas import LAMBDAS, Lambda
from traffic_lights.lambdas import translate

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


@pytest.mark.parametrize("rag", LAMBDAS, ids=[rag.name for rag in LAMBDAS])
def test_the_translation_agrees_with_ruby(rag: Lambda) -> None:
    cases = outputs(rag)
    ruby = subprocess.run(
        ["ruby", "-e", DRIVER],
        input=json.dumps({"lambda": rag.text, "cases": cases}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    expected = json.loads(ruby.stdout)
    rules = translate(rag.text)
    disagreements = [
        (case, colour, rules.colour(*case))
        for case, colour in zip(cases, expected, strict=True)
        if rules.colour(*case) != colour
    ]
    assert disagreements == []
