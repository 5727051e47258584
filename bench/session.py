"""The bench's side of the HTTP API, through the runner's client: wait for a job, time a run."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from client import Job, RunnerClient
from runner.clock import epoch

# Under the API's 30 s for a request's body (RUNNER_API_BODY_TIMEOUT_S), not the longest
# ?wait= it allows: the body's deadline still runs while gunicorn finishes a request that was
# handled for longer, and the connection's next request may then read a 500 meant for none.
WAIT_S = 20
# Longer than any run of the bench (max_seconds 10 + the kill grace) and its writes: a job
# running longer was lost (no beat runs the sweep that would fail it).
RUNNING_AT_MOST_S = 60
# Far longer than any job of the bench waits behind the others of its kata.
WAIT_AT_MOST_S = 180


class BenchError(Exception):
    """The runner answered or ended a job otherwise than the bench expects."""


def connect(url: str) -> RunnerClient:
    """A client with one keep-alive session (one per thread).

    It never retries: a call repeated after a 503 or a lost connection would be timed as one.
    """
    return RunnerClient(url, timeout_s=60, retries=0)


def ended(runner: RunnerClient, job_id: str) -> Job:
    """The job once it ended; BenchError if it never does or its worker lost it."""
    give_up = time.monotonic() + WAIT_AT_MOST_S
    while time.monotonic() < give_up:
        job = runner.job(job_id, wait_s=WAIT_S)
        if job["state"] in ("done", "failed"):
            return job
        started_at = job["started_at"]
        if started_at and time.time() - epoch(started_at) > RUNNING_AT_MOST_S:
            raise BenchError(
                f"job {job_id} is still running after {RUNNING_AT_MOST_S} s: "
                "the worker lost it (its log says why)"
            )
    raise BenchError(f"job {job_id} did not end in {WAIT_AT_MOST_S} s")


def done(runner: RunnerClient, job_id: str) -> Job:
    """The job once it ended; BenchError unless it is done."""
    job = ended(runner, job_id)
    if job["state"] != "done":
        raise BenchError(f"job {job_id} {job['kind']} failed: {job['error']}")
    return job


def result(job: Job) -> dict[str, Any]:
    """The result of a done job."""
    if job["result"] is None:
        raise BenchError(f"job {job['job_id']} ended with no result")
    return job["result"]


def stamps(job: Job) -> tuple[float, float, float]:
    """When a done job was submitted, started and finished, in seconds since the epoch."""
    started_at, finished_at = job["started_at"], job["finished_at"]
    if started_at is None or finished_at is None:
        raise BenchError(f"job {job['job_id']} ended with no start or finish time")
    return epoch(job["submitted_at"]), epoch(started_at), epoch(finished_at)


def timed_run(
    runner: RunnerClient,
    kata_id: str,
    avatar: str,
    image: str,
    files: Mapping[str, str] | None = None,
    deleted: Sequence[str] = (),
    max_seconds: int = 10,
) -> tuple[Job, float]:
    """A run's done job and the seconds from its POST to the answer of its GET."""
    started = time.perf_counter()
    accepted = runner.run(kata_id, avatar, image, files, deleted, max_seconds)
    job = done(runner, accepted["job_id"])
    return job, time.perf_counter() - started
