"""The bench's side of the HTTP API: submit a job, wait for it, time a run."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from runner.clock import epoch

WAIT_S = 30  # the longest ?wait= the API allows
# Longer than any run of the bench (max_seconds 10 + the kill grace) and its writes: a job
# running longer was lost (no beat runs the sweep that would fail it).
RUNNING_AT_MOST_S = 60
# Far longer than any job of the bench waits behind the others of its kata.
WAIT_AT_MOST_S = 180


class BenchError(Exception):
    """The runner answered or ended a job otherwise than the bench expects."""


class Api:
    """One keep-alive session with the runner's API (one per thread)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=60)

    def submit(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> str:
        """The job id of an accepted job."""
        answer = self.session.request(method, self.url + path, json=body, timeout=60)
        if answer.status_code != 202:
            raise BenchError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return str(answer.json()["job_id"])

    def run(
        self,
        kata_id: str,
        avatar: str,
        image: str,
        files: Mapping[str, str] | None = None,
        deleted: Sequence[str] = (),
        max_seconds: int = 10,
    ) -> str:
        """Submits a run; its job id."""
        body = {
            "image_name": image,
            "changed_files": dict(files or {}),
            "deleted_filenames": list(deleted),
            "max_seconds": max_seconds,
        }
        return self.submit("POST", f"/katas/{kata_id}/avatars/{avatar}/runs", body)

    def wait(self, job_id: str) -> dict[str, Any]:
        """The job once it ended."""
        give_up = time.monotonic() + WAIT_AT_MOST_S
        while time.monotonic() < give_up:
            answer = self.session.get(
                f"{self.url}/jobs/{job_id}", params={"wait": WAIT_S}, timeout=WAIT_S + 30
            )
            job: dict[str, Any] = answer.json()
            if job.get("state") in ("done", "failed"):
                return job
            if job.get("started_at") and time.time() - epoch(job["started_at"]) > RUNNING_AT_MOST_S:
                raise BenchError(
                    f"job {job_id} is still running after {RUNNING_AT_MOST_S} s: "
                    "the worker lost it (its log says why)"
                )
        raise BenchError(f"job {job_id} did not end in {WAIT_AT_MOST_S} s")

    def done(self, job_id: str) -> dict[str, Any]:
        """The job once it ended; BenchError unless it is done."""
        job = self.wait(job_id)
        if job["state"] != "done":
            raise BenchError(f"job {job_id} {job['kind']} failed: {job['error']}")
        return job

    def timed_run(
        self,
        kata_id: str,
        avatar: str,
        image: str,
        files: Mapping[str, str] | None = None,
        deleted: Sequence[str] = (),
        max_seconds: int = 10,
    ) -> tuple[dict[str, Any], float]:
        """A run's ended job and the seconds from its POST to the answer of its GET."""
        started = time.perf_counter()
        job = self.done(self.run(kata_id, avatar, image, files, deleted, max_seconds))
        return job, time.perf_counter() - started
