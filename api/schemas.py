"""The response bodies of API.md; with the request models of runner/models.py they make
/openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from runner.errors import JOB_ERROR_CODES
from runner.jobs import AcceptedState, JobKind, JobState


class Accepted(BaseModel):
    """The 202 answer to a job submission: queued, or failed at once (its kata's host is
    lost)."""

    job_id: str
    kind: JobKind
    kata_id: str | None
    state: AcceptedState
    url: str


class JobError(BaseModel):
    """Why a job failed."""

    code: str = Field(json_schema_extra={"enum": list(JOB_ERROR_CODES)})
    message: str


class Job(BaseModel):
    """A job and, once it ended, its result or error."""

    job_id: str
    kind: JobKind
    kata_id: str | None
    avatar_name: str | None
    state: JobState
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
