"""A runner instance of its own for the reaper tests: a pass may delete any of its volumes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from reaper.context import Context
from reaper.index import KataIndex, runner_volumes
from runner.mailbox import Mailbox
from runner.settings import Settings
from sandbox import disk
from sandbox.host import Host
from sandbox.images import Images
from tests.api.conftest import Woken
from tests.sandbox.conftest import Ops


@pytest.fixture
def reaper_host(settings: Settings) -> Iterator[Host]:
    host = Host.connect(settings.model_copy(update={"instance": settings.instance + "r"}))
    yield host
    # The katas a test kept (not expired) are its data: removed the runner's way.
    ops = Ops.of(host)
    for kata_id in runner_volumes(host):
        ops.old_kata(kata_id)
    containers = host.engine.containers(host.ours())
    for container in containers:
        host.engine.remove_container(container.id)
    assert not containers, "a reaper test left containers behind"
    disks = disk.leftovers(host)
    disk.remove_all(host)
    assert not disks, f"a reaper test left disks behind: {disks}"


@pytest.fixture
def ctx(reaper_host: Host, redis_client: redis.Redis) -> Context:
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=3600)
    return Context(
        host=reaper_host, images=Images.of(reaper_host), mailbox=mailbox, wake=Woken().append
    )


@pytest.fixture
def index(redis_client: redis.Redis) -> KataIndex:
    return KataIndex(redis_client)


NOW = datetime.now(UTC).replace(microsecond=0)
