"""A runner instance of its own for the reaper tests: a pass may delete any of its volumes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from reaper.index import KataIndex, runner_volumes
from runner.mailbox import Mailbox
from runner.settings import Settings
from tests.api.conftest import Woken
from worker import sandbox
from worker.host import RUNNER_LABEL, Host
from worker.pipeline import Context


@pytest.fixture
def reaper_host(settings: Settings) -> Iterator[Host]:
    host = Host.connect(settings.model_copy(update={"instance": settings.instance + "r"}))
    yield host
    # The katas a test kept (not expired) are its data: removed the runner's way.
    for kata_id in runner_volumes(host):
        sandbox.old_kata(host, kata_id)
    label = f"{RUNNER_LABEL}={host.settings.instance}"
    containers = host.client.api.containers(all=True, filters={"label": label})
    for container in containers:
        host.client.api.remove_container(container["Id"], force=True)
    assert not containers, "a reaper test left containers behind"


@pytest.fixture
def ctx(reaper_host: Host, redis_client: redis.Redis) -> Context:
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=3600)
    return Context(host=reaper_host, mailbox=mailbox, wake=Woken().append, drain_batch=8)


@pytest.fixture
def index(redis_client: redis.Redis) -> KataIndex:
    return KataIndex(redis_client)


NOW = datetime.now(UTC).replace(microsecond=0)
