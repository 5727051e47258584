"""What a call to the runner raises when it does not succeed."""

from __future__ import annotations

from typing import Any

from client.shapes import Job


class ApiError(Exception):
    """An error answer of the API: its HTTP status and API.md's error body."""

    def __init__(
        self, status: int, code: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: list[Any] = details or []


class JobFailed(Exception):
    """A job that ended `failed`: the runner could not do it."""

    def __init__(self, job: Job) -> None:
        error = job["error"] or {"code": "internal", "message": "the job failed"}
        super().__init__(
            f"job {job['job_id']} ({job['kind']}) failed: {error['code']}: {error['message']}"
        )
        self.code = error["code"]
        self.message = error["message"]
        self.job = job
