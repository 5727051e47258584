"""Two docker hosts on this machine: the default engine (host a) and a second engine of the
session's own (host b), each with its own worker, sharing one Redis and one API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.engines import DockerEngineProcess
from harness.services import RedisServer, Service, celery_worker, free_port, gunicorn, wait_for
from runner.settings import LOCAL_IMAGES, Settings
from sandbox import disk
from sandbox.host import Host
from tests.stack import Stack, stack_env

HOST_LOST_S = 8
# Presence lives 3 heartbeats (3 s); the sweep runs every second: a lost host's jobs end
# within HOST_LOST_S + this.
LOSS_SLACK_S = 6


@dataclass
class TwoHosts:
    """The stack, each host's Host (its engine, as the tests look at it) and processes."""

    stack: Stack
    hosts: dict[str, Host]
    env: dict[str, dict[str, str]]
    workers: dict[str, Service]
    engine_b: DockerEngineProcess
    log_dir: Path

    def start_worker(self, name: str) -> None:
        self.workers[name] = celery_worker(f"w{name}", self.env[name], self.log_dir)

    def start_engine_b(self) -> None:
        self.engine_b = DockerEngineProcess(
            self.engine_b.engine_name, self.log_dir, self.engine_b.root
        )

    def live_hosts(self) -> dict[str, str]:
        found = self.stack.call("GET", "/workers").json()["hosts"]
        return {h["name"]: h["state"] for h in found}

    def kata_host(self, kata_id: str) -> Any:
        return self.stack.call("GET", f"/katas/{kata_id}").json()["host"]


def leftovers(host: Host) -> dict[str, Any]:
    """What the runner instance of host left on its engine."""
    engine = host.engine
    return {
        "containers": [c.labels for c in engine.containers(host.ours())],
        "volumes": sorted(
            {v.name for v in engine.volumes(prefix=f"{host.settings.instance}-")}
            | {v.name for v in engine.volumes(host.ours())}
        ),
        "disks": disk.leftovers(host),
    }


def clear(host: Host) -> None:
    for container in host.engine.containers(host.ours()):
        host.engine.remove_container(container.id)
    for volume in host.engine.volumes(host.ours()):
        host.engine.remove_volume(volume.name)
    disk.remove_all(host)


@pytest.fixture(scope="module")
def two_hosts(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    log_dir = tmp_path_factory.mktemp("two-hosts")
    engine_b = DockerEngineProcess(f"rb{settings.instance[-4:]}", log_dir)
    redis = RedisServer(log_dir)
    started: list[Service] = [redis]
    running: TwoHosts | None = None
    try:
        engine_b.load_images(list(LOCAL_IMAGES))
        # An instance of each host's own: two engines on one machine share /dev and the disks'
        # folder, where a kata's disk is named by instance and kata.
        instances = {"a": f"{settings.instance}a", "b": f"{settings.instance}b"}
        hosts = {
            "a": Host.connect(Settings(instance=instances["a"])),
            "b": Host.connect(Settings(instance=instances["b"], docker_host=engine_b.url)),
        }
        base = {**stack_env(settings, redis.url), "RUNNER_HOST_LOST_S": str(HOST_LOST_S)}
        env = {
            name: {**base, "RUNNER_HOST_NAME": name, "RUNNER_INSTANCE": instances[name]}
            for name in hosts
        }
        env["b"]["RUNNER_DOCKER_HOST"] = engine_b.url
        port = free_port()
        api = gunicorn({**env["a"], "RUNNER_PORT": str(port)}, log_dir, port)
        stack = Stack(f"http://127.0.0.1:{port}", redis, env["a"], log_dir, api, api, api)
        running = TwoHosts(stack, hosts, env, {}, engine_b, log_dir)
        started = [*started, api]
        for name in hosts:
            running.start_worker(name)
        wait_for(lambda: running.live_hosts() == {"a": "live", "b": "live"}, 60, "both hosts live")
        yield running
        time.sleep(0.5)
        left = {name: leftovers(host) for name, host in running.hosts.items()}
        for host in running.hosts.values():
            clear(host)
        empty = {"containers": [], "volumes": [], "disks": []}
        assert left == {"a": empty, "b": empty}, left
    finally:
        workers = list(running.workers.values()) if running else []
        for service in (*workers, *reversed(started)):
            service.stop()
        (running.engine_b if running else engine_b).remove()
