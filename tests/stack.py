"""A whole runner for the tests: real Redis, Celery worker and beat, gunicorn, Docker.

The `stack` fixture (tests/conftest.py) starts one for the whole session."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from harness.services import (
    RedisServer,
    Service,
)
from runner.settings import Settings

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
    cyber_dojo_url: str = ""  # cyber-dojo's protocol, on a listener of its own

    def cyber_dojo(self, method: str, args: dict[str, Any] | None = None) -> requests.Response:
        """A call of cyber-dojo's protocol as its web server makes it: a GET with a JSON body."""
        return requests.get(
            f"{self.cyber_dojo_url}/{method}",
            data=json.dumps(args if args is not None else {}),
            headers={"Content-Type": "application/json"},
            timeout=90,
        )

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
