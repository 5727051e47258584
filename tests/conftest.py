"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from harness.services import (
    RedisServer,
    celery_beat,
    celery_worker,
    free_port,
    gunicorn,
    wait_for,
)
from runner.settings import Settings
from sandbox import disk
from sandbox.docker_engine import DockerEngine
from sandbox.host import ROLE_LABEL, Host
from sandbox.images import Images
from sandbox.ruby_judge import JUDGE_ROLE
from tests.stack import Stack, stack_env

SHELL = "cyber-dojo-local/shell:latest"
PYTHON = "cyber-dojo-local/python-pytest:latest"


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings of a runner instance of this test session alone, so that a leak is ours."""
    return Settings(instance=f"test{secrets.token_hex(3)}")


def sdk(host: Host) -> Any:
    """The docker SDK client under the host's engine, for test scaffolding only (building
    images, starting a container the runner would not)."""
    assert isinstance(host.engine, DockerEngine)
    return host.engine.sdk


def new_kata_id() -> str:
    """A random, legal kata id."""
    return secrets.token_hex(5)


@pytest.fixture(scope="session")
def host(settings: Settings) -> Iterator[Host]:
    """The real engine; at the end of the session, fails the suite on any leftover: a
    container, a volume, a disk image, its link or its loop device."""
    host = Host.connect(settings)
    yield host
    left = leftovers(host)
    assert not left["containers"], f"tests left containers behind: {left['containers']}"
    assert not left["volumes"], f"tests left volumes behind: {left['volumes']}"
    assert not left["disks"], f"tests left disks behind: {left['disks']}"


def leftovers(host: Host) -> dict[str, list[Any]]:
    """What the host's runner instance left on its engine, removed: containers (by their
    labels), volumes and disks."""
    engine, instance = host.engine, host.settings.instance
    containers = engine.containers(host.ours())
    # By name too: a volume the engine made for a container that mounted a missing one has
    # no label.
    volumes = {v.name for v in engine.volumes(prefix=f"{instance}-")}
    volumes |= {v.name for v in engine.volumes(host.ours())}
    for container in containers:
        engine.remove_container(container.id)
    for volume in volumes:
        engine.remove_volume(volume)
    disks = disk.leftovers(host)
    disk.remove_all(host)
    return {
        "containers": [c.labels for c in containers],
        "volumes": sorted(volumes),
        "disks": disks,
    }


@pytest.fixture(scope="session")
def images(host: Host) -> Iterator[Images]:
    """The images of the real engine, as a worker remembers them; its Ruby judge, if one
    was made, removed at the end."""
    images = Images.of(host)
    yield images
    if images.judge is not None:
        images.judge.close()


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


@pytest.fixture(scope="session")
def stack(
    settings: Settings, host: Host, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("stack")
    redis = RedisServer(log_dir)
    metrics_dir = log_dir / "metrics"
    metrics_dir.mkdir()
    # A runner instance of its own, as every deployment has one Redis an instance: its sweep
    # and reaper never touch what the tests of the sandbox make under the session's instance
    # with no Redis at all.
    own = settings.model_copy(update={"instance": f"{settings.instance}s"})
    env = {**stack_env(own, redis.url), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    worker = celery_worker("w1", env, log_dir, concurrency=2)
    beat = celery_beat(env, log_dir)
    port, cyber_dojo_port = free_port(), free_port()
    cyber_dojo_bind = f"127.0.0.1:{cyber_dojo_port}"
    api = gunicorn(
        {**env, "RUNNER_PORT": str(port), "RUNNER_CYBER_DOJO_BIND": cyber_dojo_bind}, log_dir, port
    )
    running = Stack(
        f"http://127.0.0.1:{port}",
        redis,
        env,
        log_dir,
        worker,
        beat,
        api,
        cyber_dojo_url=f"http://{cyber_dojo_bind}",
    )
    try:
        wait_for(lambda: running.call("GET", "/readyz").status_code == 200, 60, "the runner ready")
        yield running
    finally:
        for service in (running.api, running.beat, running.worker, running.redis):
            service.stop()
        stack_host = Host(own, host.engine)
        # A worker process ends its Ruby judge as it ends; one a test killed leaves it, to end
        # when idle (sandbox/ruby_judge.py), which the check of leftovers cannot wait for.
        for judge in host.engine.containers({**stack_host.ours(), ROLE_LABEL: JUDGE_ROLE}):
            host.engine.remove_container(judge.id)
        left = leftovers(stack_host)
    assert left == {"containers": [], "volumes": [], "disks": []}, left
    # A drain that crashes is recovered by the lease TTL and the sweep, which would hide it:
    # only the crash test's killed process may end a task unexpectedly.
    crashes = [
        line
        for line in running.worker.output().splitlines()
        if "raised unexpected" in line and "WorkerLostError" not in line
    ]
    assert not crashes, crashes[:3]


@pytest.fixture
def make_kata(stack: Stack) -> Iterator[Callable[..., str]]:
    """Creates katas through the API, with avatars; deletes them through the API after."""
    made: list[str] = []

    def make(image: str, avatars: dict[str, dict[str, str]]) -> str:
        kata_id = new_kata_id()
        made.append(kata_id)
        stack.done("PUT", f"/katas/{kata_id}", {"image_name": image})
        for avatar, files in avatars.items():
            stack.done(
                "PUT",
                f"/katas/{kata_id}/avatars/{avatar}",
                {"image_name": image, "starting_files": files},
            )
        return kata_id

    yield make
    for kata_id in made:
        stack.done("DELETE", f"/katas/{kata_id}")
