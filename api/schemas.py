"""The response bodies of API.md; with the request models of runner/models.py they make
/openapi.json."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class Accepted(BaseModel):
    """The 202 answer to a job submission."""

    job_id: str
    kind: str
    kata_id: str | None
    state: Literal["queued"]
    url: str


class JobError(BaseModel):
    """Why a job failed."""

    code: Literal[
        "kata_not_found",
        "avatar_not_found",
        "image_not_found",
        "docker_unavailable",
        "kata_disk_full",
        "host_disk_full",
        "invalid_request",
        "image_not_allowed",
        "worker_lost",
        "internal",
    ]
    message: str


class Job(BaseModel):
    """A job and, once it ended, its result or error."""

    job_id: str
    kind: str
    kata_id: str | None
    avatar_name: str | None
    state: Literal["queued", "running", "done", "failed"]
    submitted_at: str
    started_at: str | None
    finished_at: str | None
    result: dict[str, Any] | None
    error: JobError | None


class Kata(BaseModel):
    """What the runner knows of a kata."""

    kata_id: str
    host: str | None  # the docker host the kata is placed on; its jobs all run there
    hello_at: str | None
    run_at: str | None
    queued: int
    running: int


class ErrorDetail(BaseModel):
    """The error of an error answer."""

    code: str
    message: str
    details: list[dict[str, Any]]


class Error(BaseModel):
    """Every error answer, of any status."""

    error: ErrorDetail
