"""A whole runner for the tests: real Redis, Celery worker and beat, gunicorn, Docker."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from runner.settings import Settings
from tests.services import (
    RedisServer,
    Service,
    celery_beat,
    celery_worker,
    free_port,
    gunicorn,
    wait_for,
)
from worker.host import Host

LEASE_TTL_S = 3
SWEEP_INTERVAL_S = 1


def stack_env(settings: Settings, redis_url: str) -> dict[str, str]:
    """The RUNNER_* settings of the test runner: short leases and sweeps, to see recovery."""
    return {
        "RUNNER_INSTANCE": settings.instance,
        "RUNNER_REDIS_URL": redis_url,
        "RUNNER_LEASE_TTL_S": str(LEASE_TTL_S),
        "RUNNER_SWEEP_INTERVAL_S": str(SWEEP_INTERVAL_S),
        "RUNNER_WORKER_HEARTBEAT_S": "1",
        "RUNNER_LOG_LEVEL": "DEBUG",
        # A local registry on loopback serves the image-pull tests.
        "RUNNER_IMAGES": f"{settings.images},127.0.0.1:*/*",
    }


@dataclass
class Stack:
    """A running runner: its URL, its Redis, its processes."""

    url: str
    redis: RedisServer
    env: dict[str, str]
    log_dir: Path
    worker: Service
    beat: Service
    api: Service

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, timeout=60, **kwargs)

    def submit(self, method: str, path: str, body: dict[str, Any] | None = None) -> str:
        answer = self.call(method, path, json=body)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["job_id"])

    def wait(self, job_id: str, wait_s: int = 30) -> dict[str, Any]:
        give_up = time.monotonic() + 120
        while time.monotonic() < give_up:
            job = self.call("GET", f"/jobs/{job_id}?wait={wait_s}").json()
            if job["state"] in ("done", "failed"):
                return dict(job)
        raise TimeoutError(f"job {job_id} did not end")

    def done(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        job = self.wait(self.submit(method, path, body))
        assert job["state"] == "done", job
        return job


@pytest.fixture(scope="session")
def stack(
    settings: Settings, host: Host, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("stack")
    redis = RedisServer(log_dir)
    metrics_dir = log_dir / "metrics"
    metrics_dir.mkdir()
    env = {**stack_env(settings, redis.url), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    worker = celery_worker("w1", env, log_dir, concurrency=2)
    beat = celery_beat(env, log_dir)
    port = free_port()
    api = gunicorn({**env, "RUNNER_PORT": str(port)}, log_dir, port)
    running = Stack(f"http://127.0.0.1:{port}", redis, env, log_dir, worker, beat, api)
    try:
        wait_for(lambda: running.call("GET", "/readyz").status_code == 200, 60, "the runner ready")
        yield running
    finally:
        for service in (running.api, running.beat, running.worker, running.redis):
            service.stop()


@pytest.fixture
def make_kata(stack: Stack) -> Iterator[Callable[..., str]]:
    """Creates katas through the API, with avatars; deletes them through the API after."""
    made: list[str] = []

    def make(image: str, avatars: dict[str, dict[str, str]]) -> str:
        from tests.conftest import new_kata_id

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
