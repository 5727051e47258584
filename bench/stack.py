"""The bench's own runner: a Redis, the gunicorn API and a Celery worker restarted at will.

Its RUNNER_INSTANCE is its own, so it sees and removes only the containers and volumes it made.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import redis

from bench.plan import Mode
from client import RunnerClient
from harness.services import (
    RedisServer,
    Service,
    celery_beat,
    celery_worker,
    free_port,
    gunicorn,
    wait_for,
)
from runner.errors import VolumeInUse
from runner.settings import Settings
from sandbox import disk
from sandbox.host import Host


class Stack:
    """Start with start(); close() stops every process and removes every docker object.

    Beat runs as in production: its sweep re-wakes katas whose drain message was lost.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.instance = f"bench{secrets.token_hex(3)}"
        self.redis: RedisServer | None = None
        self.api: Service | None = None
        self.beat: Service | None = None
        self.worker: Service | None = None
        self.url = ""
        self.api_client: RunnerClient | None = None
        self.env: dict[str, str] = {}
        self._workers_started = 0

    @property
    def settings(self) -> Settings:
        """The settings every process of this stack runs with (the default mode's)."""
        return Settings(instance=self.instance, redis_url=self.redis_client_url)

    def settings_for(self, mode: Mode) -> Settings:
        """The settings of a worker started in this mode (RUNNER_RUN_CONTAINER)."""
        return Settings(instance=self.instance, redis_url=self.redis_client_url, run_container=mode)

    @property
    def redis_client_url(self) -> str:
        if self.redis is None:
            raise RuntimeError("the stack's Redis is not running")
        return self.redis.url

    def start(self) -> None:
        """Redis, then the API; the worker comes with start_worker."""
        self.redis = RedisServer(self.log_dir)
        metrics_dir = self.log_dir / "metrics"
        metrics_dir.mkdir()
        self.env = {
            "RUNNER_INSTANCE": self.instance,
            "RUNNER_REDIS_URL": self.redis.url,
            "RUNNER_LOG_LEVEL": "INFO",
            "RUNNER_WORKER_HEARTBEAT_S": "1",
            # The reaper is off a run's path, and its index rebuild would start containers.
            "RUNNER_REAP_INTERVAL_S": "86400",
            # Nor is the sweep's removal of idle kata containers: the bench's katas wait idle
            # through the other mode's measurements, and each would come back to a new one.
            "RUNNER_KATA_IDLE_S": "86400",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        port = free_port()
        self.api = gunicorn({**self.env, "RUNNER_PORT": str(port)}, self.log_dir, port)
        self.url = f"http://127.0.0.1:{port}"
        # Asked while the stack starts: retrying is wait_for's.
        self.api_client = RunnerClient(self.url, timeout_s=10, retries=0)
        wait_for(lambda: bool(self._api().healthz()["ok"]), 30, "the API answering")
        self.beat = celery_beat(self.env, self.log_dir)

    def start_worker(self, concurrency: int, mode: Mode = "kata") -> None:
        """(Re)starts the worker with `--concurrency N` in a mode (RUNNER_RUN_CONTAINER) and
        waits until it consumes."""
        self.stop_worker()
        self._workers_started += 1
        name = f"bench{self._workers_started}-{mode}-c{concurrency}"
        env = {**self.env, "RUNNER_RUN_CONTAINER": mode}
        self.worker = celery_worker(name, env, self.log_dir, concurrency=concurrency)
        wait_for(lambda: self._worker_online(name + "@"), 60, f"worker {name} consuming")

    def stop_worker(self) -> None:
        """A warm shutdown: only the main process is told, so that it ends its pool itself
        (a signal to the whole session would kill a running task and log it lost)."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(60)
        worker.stop()  # closes its log; ends the whole session if it still runs

    def stop_beat(self) -> None:
        if self.beat is not None:
            self.beat.stop()
            self.beat = None

    def worker_session(self) -> int | None:
        """The session (the worker's pid) that holds the worker and its pool processes."""
        worker = self.worker
        return worker.pid if worker is not None and worker.process.poll() is None else None

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_client_url)

    def close(self) -> None:
        """Stops our processes (the containers and volumes are remove_docker_objects')."""
        for stop in (self.stop_worker, self.stop_beat):
            with contextlib.suppress(Exception):
                stop()
        if self.api_client is not None:
            self.api_client.close()
        for service in (self.api, self.redis):
            if service is not None:
                with contextlib.suppress(Exception):
                    service.stop()

    def logged_errors(self) -> list[str]:
        """The messages of the error lines the services logged so far."""
        errors = []
        for log in sorted(self.log_dir.glob("*.log")):
            for line in log.read_text(errors="replace").splitlines():
                if '"level": "error"' not in line:
                    continue
                with contextlib.suppress(ValueError):
                    errors.append(f"{log.stem}: {json.loads(line)['message']}")
        return errors

    def _api(self) -> RunnerClient:
        if self.api_client is None:
            raise RuntimeError("the stack's API is not running")
        return self.api_client

    def _worker_online(self, prefix: str) -> bool:
        workers = self._api().workers()["workers"]
        return any(str(w["name"]).startswith(prefix) for w in workers)


def remove_docker_objects(instance: str) -> tuple[int, int]:
    """Force-removes the instance's containers, then its volumes and disks: how many
    containers and volumes."""
    host = Host.connect(Settings(instance=instance))
    prefix = f"{instance}-kata-"
    volumes = {v.name for v in host.engine.volumes(host.ours())}
    volumes |= {v.name for v in host.engine.volumes(prefix=prefix)}
    volumes = {v for v in volumes if v.startswith(prefix)}
    containers = {c.id for c in host.engine.containers(host.ours())}
    for volume in volumes:
        containers |= {c.id for c in host.engine.containers({}, volume=volume)}
    for container_id in containers:
        host.engine.remove_container(container_id)
    for volume in volumes:
        _remove_volume(host, volume)
    disk.remove_all(host)  # the disks of katas whose removal did not run
    return len(containers), len(volumes)


def _remove_volume(host: Host, volume: str) -> None:
    give_up = time.monotonic() + 30
    while True:
        try:
            host.engine.remove_volume(volume)
            return
        except VolumeInUse:  # a container is still going away
            if time.monotonic() > give_up:
                raise
            time.sleep(0.2)
