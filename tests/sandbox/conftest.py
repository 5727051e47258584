"""Fixtures for tests against the real docker engine and the local images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import SHELL, new_kata_id
from worker import sandbox
from worker.host import RUNNER_LABEL, Host


@pytest.fixture
def kata(host: Host) -> Iterator[str]:
    """A new kata on the shell image, removed after the test."""
    kata_id = new_kata_id()
    sandbox.new_kata(host, kata_id, SHELL)
    yield kata_id
    sandbox.old_kata(host, kata_id)


Runner = Callable[..., dict[str, Any]]


@pytest.fixture
def run_sh(host: Host, kata: str) -> Runner:
    """Runs a cyber-dojo.sh in the kata as an avatar (lion unless told), creating it first."""
    made: set[str] = set()

    def run(
        script: str,
        avatar: str = "lion",
        max_seconds: int = 10,
        image: str = SHELL,
        changed: dict[str, str] | None = None,
        deleted: list[str] | None = None,
    ) -> dict[str, Any]:
        if avatar not in made:
            sandbox.new_avatar(host, kata, avatar, image, {})
            made.add(avatar)
        files = {"cyber-dojo.sh": script, **(changed or {})}
        return dict(sandbox.run(host, kata, avatar, image, files, deleted or [], max_seconds))

    return run


def kata_containers(host: Host, kata_id: str) -> list[dict[str, Any]]:
    """Every container of the kata, running or not."""
    return list(
        host.client.api.containers(all=True, filters={"label": f"{RUNNER_LABEL}.kata_id={kata_id}"})
    )


def assert_still_works(run: Runner, avatar: str = "lion") -> None:
    """The avatar's next run runs and reports normally."""
    result = run("echo still works", avatar=avatar)
    assert result["stdout"]["content"] == "still works\n"
    assert result["status"] == 0
    assert result["colour"] == "green"
