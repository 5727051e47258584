"""The runner's exceptions, every one of them: each has the error code of API.md it becomes.

A job that fails records its error's code and message; an API call that fails answers the
code with the HTTP status that api/errors.py gives it. Library errors are converted into
these at the seams (sandbox/docker_engine.py for docker, runner/store.py for Redis).
"""

from __future__ import annotations

from typing import Any


class RunnerError(Exception):
    """Base of every error the runner reports to a client."""

    code = "internal"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class InvalidRequest(RunnerError):
    """An identifier, filename or value broke the rules of API.md."""

    code = "invalid_request"


class ImageNotAllowed(RunnerError):
    """The image is not on the operator's allow-list."""

    code = "image_not_allowed"


class TooLarge(RunnerError):
    """A body or a file is over its size limit."""

    code = "too_large"


class RequestTimeout(RunnerError):
    """A request's body did not arrive within its time."""

    code = "request_timeout"


class UnsupportedMediaType(RunnerError):
    """A request body that is not JSON."""

    code = "unsupported_media_type"


class Unauthorized(RunnerError):
    """A call without the bearer token the API requires."""

    code = "unauthorized"


class JobNotFound(RunnerError):
    """The job is unknown, or its record expired."""

    code = "job_not_found"


class KataNotFound(RunnerError):
    """The kata has no volume, or the runner has no record of it."""

    code = "kata_not_found"


class AvatarNotFound(RunnerError):
    """The avatar's sandbox does not exist in the kata's volume."""

    code = "avatar_not_found"


class ImageNotFound(RunnerError):
    """The image is not on the docker host."""

    code = "image_not_found"


class KataBusy(RunnerError):
    """The kata already has the most queued jobs allowed."""

    code = "kata_busy"


class Unavailable(RunnerError):
    """Redis does not answer, no worker consumes, or the runner holds the most jobs allowed."""

    code = "unavailable"


class DockerUnavailable(RunnerError):
    """The docker engine did not answer."""

    code = "docker_unavailable"


class HostLost(RunnerError):
    """The kata's docker host has had no live worker for too long: its volume is lost."""

    code = "host_lost"


class WorkerLost(RunnerError):
    """The worker died while running the job, or could not record its end within its lease."""

    code = "worker_lost"


class CommandMissing(RunnerError):
    """The engine could not start a container: its command is not in it (a volume that
    should hold it was removed, and the engine made an empty one)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class ContainerGone(RunnerError):
    """The container to run in is no longer on the engine (removed by another process)."""


class VolumeInUse(RunnerError):
    """A volume could not be removed: a container still mounts it."""


class VolumeNotMountable(RunnerError):
    """The engine could not mount a kata's volume: its disk is not attached (after a reboot)."""

    def __init__(self, message: str, volume: str = "") -> None:
        super().__init__(message)
        self.volume = volume


class KataDiskFull(RunnerError):
    """The kata's disk is full (bytes or files): the runner could not write an avatar's files."""

    code = "kata_disk_full"


class HostDiskFull(RunnerError):
    """The docker host has less free space than a new kata's disk may fill."""

    code = "host_disk_full"


# The errors a failed job may carry, in API.md's order: their codes are the job error codes
# of API.md's table and of /openapi.json. RunnerError itself stands for anything else.
JOB_ERRORS: tuple[type[RunnerError], ...] = (
    KataNotFound,
    AvatarNotFound,
    ImageNotFound,
    DockerUnavailable,
    KataDiskFull,
    HostDiskFull,
    HostLost,
    WorkerLost,
    InvalidRequest,
    ImageNotAllowed,
    RunnerError,
)
JOB_ERROR_CODES: tuple[str, ...] = tuple(error.code for error in JOB_ERRORS)
