"""cyber-dojo's protocol, its pure parts: how an id maps to a kata and an avatar, how a run's
result becomes cyber-dojo's, and which colour rules a cyber-dojo run is judged by."""

from __future__ import annotations

import pytest

from api.cyber_dojo import converted
from runner.identifiers import AVATARS, KATA_ID, cyber_dojo_sandbox
from sandbox.engine import Image
from sandbox.images import RAG_LAMBDA_FILE, Images
from sandbox.stub_engine import StubEngine
from traffic_lights.rules import COLOUR_RULES_LABEL

RB = b"lambda { |o, e, status|\n  return :green if status == 0\n  :red\n}\n"


@pytest.mark.parametrize("cyber_dojo_id", ["a1B2c3", "5A0F8E2B1C", "Zz9876"])
def test_a_legal_kata_id_is_that_kata(cyber_dojo_id: str) -> None:
    assert cyber_dojo_sandbox(cyber_dojo_id) == (cyber_dojo_id, AVATARS[0])


@pytest.mark.parametrize("odd", ["", "x", "a1B2c3-0", "a-b-c", "not a kata id-3", "ü\ud800-1", "-"])
def test_any_other_id_maps_to_a_legal_kata_the_same_every_time(odd: str) -> None:
    kata_id, avatar = cyber_dojo_sandbox(odd)
    assert KATA_ID.fullmatch(kata_id) and avatar == AVATARS[0]
    assert cyber_dojo_sandbox(odd) == (kata_id, avatar)


def test_every_id_is_a_kata_of_its_own() -> None:
    ids = [f"a1B2c3-{n}" for n in range(1000)] + [f"kata {n}" for n in range(1000)]
    assert len({cyber_dojo_sandbox(each)[0] for each in ids}) == len(ids)


def result(colour: str, status: int, **more: object) -> dict[str, object]:
    capped = {"content": "out", "truncated": False}
    return {
        "stdout": capped,
        "stderr": capped,
        "status": status,
        "colour": colour,
        "faulty_reason": None,
        "oom_killed": False,
        "created": {"a": capped},
        "changed": {},
        "deleted": ["gone"],
        **more,
    }


def test_a_coloured_run_is_cyber_dojos_outcome_with_its_status_as_a_string() -> None:
    answer = converted(result("red", 1), 10)
    assert answer == {
        "stdout": {"content": "out", "truncated": False},
        "stderr": {"content": "out", "truncated": False},
        "status": "1",
        "outcome": "red",
        "log": {},
        "created": {"a": {"content": "out", "truncated": False}},
        "changed": {},
    }


def test_timed_out_has_cyber_dojos_status_and_faulty_its_reason() -> None:
    timed_out = converted(result("timed_out", 137), 3)
    assert (timed_out["status"], timed_out["log"]["max_seconds"]) == ("142", 3)
    faulty = converted(result("faulty", 0, faulty_reason="why"), 3)
    assert (faulty["outcome"], faulty["log"]) == ("faulty", {"faulty_reason": "why"})


def engine_with(labels: dict[str, str], rb: bytes | None) -> StubEngine:
    engine = StubEngine()
    engine.images["img:latest"] = Image("sha256:1", labels)
    if rb is not None:
        engine.image_files[("sha256:1", RAG_LAMBDA_FILE)] = rb
    return engine


def test_the_images_red_amber_green_rb_is_read_once_per_image_id_and_translated() -> None:
    engine = engine_with({}, RB)
    images = Images(engine)
    for _ in range(3):
        rules = images.cyber_dojo_rules("img", "sha256:1", None)
        assert not isinstance(rules, str) and rules.colour("", "", 0) == "green"
    assert engine.files_read == [("sha256:1", RAG_LAMBDA_FILE)]


def test_the_manifests_lambda_wins_over_the_images_rules_and_file() -> None:
    images = Images(engine_with({COLOUR_RULES_LABEL: '{"rules": []}'}, RB))
    rules = images.cyber_dojo_rules("img", "sha256:1", "lambda { |o, e, s| :green }")
    assert not isinstance(rules, str) and rules.colour("", "", 1) == "green"


def test_the_operators_rules_for_the_image_win_over_everything() -> None:
    images = Images(engine_with({}, RB), {"img:latest": {"rules": [], "otherwise": "amber"}})
    rules = images.cyber_dojo_rules("img", "sha256:1", "lambda { |o, e, s| :green }")
    assert not isinstance(rules, str) and rules.colour("", "", 0) == "amber"


def test_no_rules_and_no_file_or_a_lambda_it_cannot_translate_is_a_reason() -> None:
    images = Images(engine_with({}, None))
    assert RAG_LAMBDA_FILE in str(images.cyber_dojo_rules("img", "sha256:1", None))
    refused = images.cyber_dojo_rules("img", "sha256:1", "lambda { |o, e, s| system('x')\n :red }")
    assert isinstance(refused, str) and "system()" in refused
