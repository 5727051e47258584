"""The API app on a real Redis, with the wake-up recorded instead of sent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from harness.services import RedisServer
from runner.settings import Settings


class Woken(list[str]):
    """The katas the API woke, in order."""


@pytest.fixture
def woken() -> Woken:
    return Woken()


def make_app(
    api_redis: RedisServer,
    woken: Woken,
    wake: Callable[[str], None] | None = None,
    **settings: object,
) -> Flask:
    """The app; its drain messages go to woken, or to wake when given."""
    from api.app import create_app

    app = create_app(Settings(redis_url=api_redis.url, **settings), wake=wake or woken.append)
    app.testing = True
    return app


@pytest.fixture
def client(api_redis: RedisServer, redis_client: redis.Redis, woken: Woken) -> FlaskClient:
    return make_app(api_redis, woken).test_client()


def snapshot(client: redis.Redis) -> dict[bytes, object]:
    """Every key of Redis with a digest of its value: equal snapshots, nothing changed."""
    return {key: client.dump(key) for key in client.scan_iter()}
