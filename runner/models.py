"""The requests of API.md as typed models, and a job as a worker runs it.

The API parses a request body with its model; the job stores the model's JSON, and the
worker parses that again with the same model: one definition of what a request holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from runner.errors import ImageNotAllowed, TooLarge
from runner.identifiers import MAX_SECONDS_RANGE, filename_problem
from runner.settings import MiB, Settings

MAX_FILE_BYTES = 1 * MiB
MAX_FILES_BYTES = 10 * MiB


class Request(BaseModel):
    """A request body: unknown fields are refused, types are not coerced.

    Parsed with context={"settings": ...}, the image must be on the settings' allow-list;
    a request the runner builds itself (no context) is trusted.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @field_validator("image_name", check_fields=False)
    @classmethod
    def _image_allowed(cls, image_name: str, info: ValidationInfo) -> str:
        settings: Settings | None = (info.context or {}).get("settings")
        if settings is not None and not settings.image_allowed(image_name):
            # Not a ValueError: pydantic lets it through, and it answers 400 image_not_allowed.
            raise ImageNotAllowed(f"image_name: {image_name!r} is not on the allow-list")
        return image_name

    @field_validator("starting_files", "changed_files", "files", check_fields=False)
    @classmethod
    def _files(cls, files: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        _check_count(len(files), info)
        return _check_files(files, str(info.field_name))

    @field_validator("deleted_filenames", check_fields=False)
    @classmethod
    def _names(cls, names: list[str], info: ValidationInfo) -> list[str]:
        _check_count(len(names), info)
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


def _check_count(count: int, info: ValidationInfo) -> None:
    settings: Settings | None = (info.context or {}).get("settings")
    if settings is not None and count > settings.max_request_files:
        raise TooLarge(
            f"{info.field_name}: {count} files, over the {settings.max_request_files} a request "
            "may hold (RUNNER_MAX_REQUEST_FILES)"
        )


def _check_names(names: Iterable[str]) -> None:
    for name in names:
        problem = filename_problem(name)
        if problem:
            raise ValueError(f"{name!r} {problem}")


def _check_files(files: dict[str, str], field: str) -> dict[str, str]:
    _check_names(files)
    for name in files:
        # A file cannot also be a folder of another file of the same request.
        parts = name.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in files:
                raise ValueError(f"{name!r} is under {'/'.join(parts[:depth])!r}, a file too")
    total = 0
    for name, content in files.items():
        size = len(content.encode("utf-8", errors="surrogatepass"))
        if size > MAX_FILE_BYTES:
            raise TooLarge(f"{field}: {name!r} is over {MAX_FILE_BYTES} bytes")
        total += size
    if total > MAX_FILES_BYTES:
        raise TooLarge(f"{field}: the files add up to over {MAX_FILES_BYTES} bytes")
    return files


class NewKata(Request):
    """PUT /katas/{kata_id}"""

    image_name: ImageName


class OldKata(Request):
    """DELETE /katas/{kata_id}: no body."""


class NewAvatar(Request):
    """PUT /katas/{kata_id}/avatars/{avatar_name}"""

    image_name: ImageName
    starting_files: Files


class OldAvatar(Request):
    """DELETE /katas/{kata_id}/avatars/{avatar_name}: no body."""


class Run(Request):
    """POST /katas/{kata_id}/avatars/{avatar_name}/runs"""

    image_name: ImageName
    changed_files: Files = Field(default_factory=dict)
    deleted_filenames: list[str] = Field(default_factory=list)
    max_seconds: int = Field(default=10, ge=MAX_SECONDS_RANGE.start, le=MAX_SECONDS_RANGE.stop - 1)


class PullImage(Request):
    """POST /images/pull"""

    image_name: ImageName
    if_missing: bool = Field(
        default=False, description="pull only when the image is not on the docker host"
    )


class CyberDojoRun(Request):
    """cyber-dojo's run_cyber_dojo_sh, as a job of the kata its id maps to: cyber-dojo.sh
    runs in a sandbox of exactly `files`, as cyber-dojo's runner runs it, coloured by
    rag_lambda when given."""

    cyber_dojo_id: str = ""  # the web server's id, as the run's CYBER_DOJO_ID
    image_name: ImageName
    files: Files
    max_seconds: int = Field(ge=MAX_SECONDS_RANGE.start, le=MAX_SECONDS_RANGE.stop - 1)
    rag_lambda: str | None = None


R = TypeVar("R", bound=Request)


@dataclass(frozen=True)
class Job(Generic[R]):
    """A job as a worker runs it: whose it is, its request, and the fence of its lease
    (which labels its containers, so that a later holder can tell them from its own)."""

    kata_id: str
    request: R
    avatar_name: str = ""
    job_id: str = ""
    fence: int = 0
