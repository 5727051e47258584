"""How a Host remembers the image an image name stands for: pure, with a fake engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import docker.errors
import pytest

import worker.host
from runner.errors import ImageNotFound
from runner.settings import Settings
from worker.colour import COLOUR_RULES_LABEL
from worker.host import Host

NAME = "cyber-dojo-local/shell"
RULES = '{"rules": [], "otherwise": "green"}'


@dataclass
class FakeApi:
    """inspect_image over a table of names to ids, counting the calls."""

    ids: dict[str, str] = field(default_factory=lambda: {f"{NAME}:latest": "sha256:one"})
    calls: int = 0

    def inspect_image(self, name: str) -> dict[str, Any]:
        self.calls += 1
        image_id = self.ids.get(name if ":" in name else f"{name}:latest", name)
        if image_id not in self.ids.values():
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return {"Id": image_id, "Config": {"Labels": {COLOUR_RULES_LABEL: RULES}}}


@dataclass
class FakeClient:
    api: FakeApi = field(default_factory=FakeApi)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(worker.host.time, "monotonic", lambda: now[0])
    return now


def host_of(api: FakeApi) -> Host:
    return Host(Settings(), FakeClient(api))  # type: ignore[arg-type]


def test_an_image_name_is_looked_up_again_only_after_the_recheck_interval(
    clock: list[float],
) -> None:
    api = FakeApi()
    host = host_of(api)
    assert host.image_id(NAME) == "sha256:one"
    api.ids[f"{NAME}:latest"] = "sha256:two"  # re-tagged by hand
    clock[0] += worker.host.IMAGE_RECHECK_S - 1
    assert host.image_id(f"{NAME}:latest") == "sha256:one"  # the same name, normalised
    assert api.calls == 1
    clock[0] += 2
    assert host.image_id(NAME) == "sha256:two"
    assert api.calls == 2
    assert host.rules_of(NAME, "sha256:two") is not None  # read with the id, not again
    assert api.calls == 2


def test_a_pull_or_a_forgotten_name_is_looked_up_at_its_next_use(clock: list[float]) -> None:
    api = FakeApi()
    host = host_of(api)
    host.images_pulled(0)
    assert host.image_id(NAME) == "sha256:one"
    host.images_pulled(0)  # no pull since
    assert host.image_id(NAME) == "sha256:one" and api.calls == 1
    api.ids[f"{NAME}:latest"] = "sha256:two"
    host.images_pulled(1)
    assert host.image_id(NAME) == "sha256:two" and api.calls == 2
    del api.ids[f"{NAME}:latest"]
    host.forget_image(NAME)
    with pytest.raises(ImageNotFound):
        host.image_id(NAME)
