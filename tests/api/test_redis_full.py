"""A Redis at its maxmemory refuses writes (noeviction): the API answers 503 and nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.services import RedisServer
from tests.api.conftest import Woken, snapshot
from tests.conftest import SHELL


@pytest.fixture
def full_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, maxmemory="4mb")
    client = redis.Redis.from_url(server.url)
    filler = b"x" * 64 * 1024
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for n in range(1000):
            client.set(f"filler:{n}", filler)
    yield server
    server.stop()


def test_a_submission_to_a_full_redis_is_503_unavailable_and_changes_nothing(
    full_redis: RedisServer, tmp_path: Path
) -> None:
    from api.app import create_app
    from runner.settings import Settings

    woken = Woken()
    app = create_app(Settings(redis_url=full_redis.url), wake=woken.append)
    before = snapshot(redis.Redis.from_url(full_redis.url))
    answer = app.test_client().put("/katas/5A0F8E2B1C", json={"image_name": SHELL})
    assert answer.status_code == 503
    error = answer.get_json()["error"]
    assert error["code"] == "unavailable" and "out of memory" in error["message"]
    assert snapshot(redis.Redis.from_url(full_redis.url)) == before
    assert woken == []
    assert app.test_client().get("/healthz").status_code == 200
