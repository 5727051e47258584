"""How Images remembers the image an image name stands for: pure, with the stub engine."""

from __future__ import annotations

import pytest

import sandbox.images
from runner.errors import ImageNotFound
from sandbox.engine import Image
from sandbox.images import Images
from sandbox.stub_engine import StubEngine
from traffic_lights.rules import COLOUR_RULES_LABEL

NAME = "cyber-dojo-local/shell"
RULES = '{"rules": [], "otherwise": "green"}'


class CountingEngine(StubEngine):
    """The stub engine, counting image look-ups."""

    calls: int = 0

    def image(self, name: str) -> Image:
        self.calls += 1
        return super().image(
            name if ":" in name or name.startswith("sha256:") else f"{name}:latest"
        )


def tagged(engine: StubEngine, image_id: str) -> None:
    engine.images[f"{NAME}:latest"] = Image(image_id, {COLOUR_RULES_LABEL: RULES})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(sandbox.images.time, "monotonic", lambda: now[0])
    return now


def test_an_image_name_is_looked_up_again_only_after_the_recheck_interval(
    clock: list[float],
) -> None:
    engine = CountingEngine()
    tagged(engine, "sha256:one")
    images = Images(engine)
    assert images.image_id(NAME) == "sha256:one"
    tagged(engine, "sha256:two")  # re-tagged by hand
    clock[0] += sandbox.images.IMAGE_RECHECK_S - 1
    assert images.image_id(f"{NAME}:latest") == "sha256:one"  # the same name, normalised
    assert engine.calls == 1
    clock[0] += 2
    assert images.image_id(NAME) == "sha256:two"
    assert engine.calls == 2
    assert images.rules_of(NAME, "sha256:two") is not None  # read with the id, not again
    assert engine.calls == 2


def test_a_pull_or_a_forgotten_name_is_looked_up_at_its_next_use(clock: list[float]) -> None:
    engine = CountingEngine()
    tagged(engine, "sha256:one")
    images = Images(engine)
    images.pulled(0)
    assert images.image_id(NAME) == "sha256:one"
    images.pulled(0)  # no pull since
    assert images.image_id(NAME) == "sha256:one" and engine.calls == 1
    tagged(engine, "sha256:two")
    images.pulled(1)
    assert images.image_id(NAME) == "sha256:two" and engine.calls == 2
    del engine.images[f"{NAME}:latest"]
    images.forget(NAME)
    with pytest.raises(ImageNotFound):
        images.image_id(NAME)


def test_the_operators_rules_win_over_the_images_label() -> None:
    engine = StubEngine()
    tagged(engine, "sha256:one")
    images = Images(engine, {f"{NAME}:latest": {"rules": [], "otherwise": "red"}})
    rules = images.colour_rules(NAME)
    assert rules is not None and rules.colour("", "", 0) == "red"


def test_unusable_rules_are_none_not_an_error() -> None:
    engine = StubEngine()
    engine.images[f"{NAME}:latest"] = Image("sha256:one", {COLOUR_RULES_LABEL: "{not json"})
    assert Images(engine).colour_rules(NAME) is None
