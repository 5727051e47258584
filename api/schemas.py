"""The request and response bodies of API.md: they validate requests and make /openapi.json."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from runner.errors import ImageNotAllowed, RunnerError
from runner.identifiers import filename_problem
from runner.settings import MiB, Settings

MAX_FILE_BYTES = 1 * MiB
MAX_FILES_BYTES = 10 * MiB


class TooLarge(RunnerError):
    """A body or a file is over its size limit."""

    code = "too_large"


class Body(BaseModel):
    """A request body: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("image_name", check_fields=False)
    @classmethod
    def _image_allowed(cls, image_name: str, info: ValidationInfo) -> str:
        settings: Settings = (info.context or {})["settings"]
        if not settings.image_allowed(image_name):
            # Not a ValueError: pydantic lets it through, and it answers 400 image_not_allowed.
            raise ImageNotAllowed(f"image_name: {image_name!r} is not on the allow-list")
        return image_name

    @field_validator("starting_files", "changed_files", check_fields=False)
    @classmethod
    def _files(cls, files: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return _check_files(files, str(info.field_name))

    @field_validator("deleted_filenames", check_fields=False)
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        _check_names(names)
        return names


ImageName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="A docker image reference on the operator's allow-list (RUNNER_IMAGES)",
    ),
]
Files = Annotated[dict[str, str], Field(description="filename -> UTF-8 content (1 MiB each)")]


def _check_names(names: Iterable[str]) -> None:
    for name in names:
        problem = filename_problem(name)
        if problem:
            raise ValueError(f"{name!r} {problem}")


def _check_files(files: dict[str, str], field: str) -> dict[str, str]:
    _check_names(files)
    total = 0
    for name, content in files.items():
        size = len(content.encode("utf-8", errors="surrogatepass"))
        if size > MAX_FILE_BYTES:
            raise TooLarge(f"{field}: {name!r} is over {MAX_FILE_BYTES} bytes")
        total += size
    if total > MAX_FILES_BYTES:
        raise TooLarge(f"{field}: the files add up to over {MAX_FILES_BYTES} bytes")
    return files


class NewKata(Body):
    """PUT /katas/{kata_id}"""

    image_name: ImageName


class NewAvatar(Body):
    """PUT /katas/{kata_id}/avatars/{avatar_name}"""

    image_name: ImageName
    starting_files: Files


class Run(Body):
    """POST /katas/{kata_id}/avatars/{avatar_name}/runs"""

    image_name: ImageName
    changed_files: Files = Field(default_factory=dict)
    deleted_filenames: list[str] = Field(default_factory=list)
    max_seconds: int = Field(default=10, ge=1, le=20)


class PullImage(Body):
    """POST /images/pull"""

    image_name: ImageName


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
