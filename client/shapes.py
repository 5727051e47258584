"""The JSON answers of docs/API.md as typed dicts."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

State = Literal["queued", "running", "done", "failed"]


class Accepted(TypedDict):
    """The 202 answer to a submitted job."""

    job_id: str
    kind: str
    kata_id: str | None  # None for a job of no kata (pull_image)
    state: State
    url: str


class JobError(TypedDict):
    """Why the runner could not do a job."""

    code: str
    message: str


class Job(TypedDict):
    """A job as GET /jobs/{job_id} answers it."""

    job_id: str
    kind: str
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
