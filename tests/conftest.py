"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis

from runner.settings import Settings
from tests.services import RedisServer
from worker.host import RUNNER_LABEL, Host

SHELL = "cyber-dojo-local/shell:latest"
PYTHON = "cyber-dojo-local/python-pytest:latest"


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings of a runner instance of this test session alone, so that a leak is ours."""
    return Settings(instance=f"test{secrets.token_hex(3)}")


def new_kata_id() -> str:
    """A random, legal kata id."""
    return secrets.token_hex(5)


@pytest.fixture(scope="session")
def host(settings: Settings) -> Iterator[Host]:
    """The real engine; at the end of the session, fails the suite on any leftover."""
    host = Host.connect(settings)
    yield host
    label = f"{RUNNER_LABEL}={settings.instance}"
    containers = host.client.api.containers(all=True, filters={"label": label})
    volumes = host.client.api.volumes(filters={"label": label})["Volumes"] or []
    for container in containers:
        host.client.api.remove_container(container["Id"], force=True)
    for volume in volumes:
        host.client.api.remove_volume(volume["Name"], force=True)
    assert not containers, f"tests left containers behind: {[c['Names'] for c in containers]}"
    assert not volumes, f"tests left volumes behind: {[v['Name'] for v in volumes]}"


@pytest.fixture(scope="session")
def api_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("api-redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_client(api_redis: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(api_redis.url)
    client.flushdb()
    yield client
    client.flushdb()
