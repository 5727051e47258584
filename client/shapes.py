"""The JSON answers of docs/API.md as typed dicts."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# API.md's job kinds, job states and job error codes: the client imports nothing of the
# runner, so tests/api/test_one_source.py holds them to the runner's own.
Kind = Literal[
    "new_kata", "old_kata", "new_avatar", "old_avatar", "run", "pull_image", "cyber_dojo_run"
]
State = Literal["queued", "running", "done", "failed"]
ErrorCode = Literal[
    "kata_not_found",
    "avatar_not_found",
    "image_not_found",
    "docker_unavailable",
    "kata_disk_full",
    "host_disk_full",
    "host_lost",
    "worker_lost",
    "invalid_request",
    "image_not_allowed",
    "internal",
]


class Accepted(TypedDict):
    """The 202 answer to a submitted job."""

    job_id: str
    kind: Kind
    kata_id: str | None  # None for a job of no kata (pull_image)
    state: State
    url: str


class JobError(TypedDict):
    """Why the runner could not do a job."""

    code: ErrorCode
    message: str


class Job(TypedDict):
    """A job as GET /jobs/{job_id} answers it."""

    job_id: str
    kind: Kind
    kata_id: str | None
    avatar_name: str | None
    state: State
    submitted_at: str
    started_at: str | None
    finished_at: str | None
    result: dict[str, Any] | None
    error: JobError | None


class KataRecord(TypedDict):
    """What the runner knows of a kata."""

    kata_id: str
    host: str | None  # the docker host the kata is placed on; its jobs all run there
    hello_at: str | None
    run_at: str | None
    queued: int
    running: int
