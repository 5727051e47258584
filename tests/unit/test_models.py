"""The request models: what a request may hold."""

from __future__ import annotations

import pytest

from runner.errors import TooLarge
from runner.models import NewAvatar, Run
from runner.settings import Settings

SHELL = "cyber-dojo-local/shell:latest"


def parse(model: type[Run] | type[NewAvatar], settings: Settings, **body: object) -> object:
    return model.model_validate({"image_name": SHELL, **body}, context={"settings": settings})


@pytest.mark.parametrize(
    "model, field, files",
    [
        (Run, "changed_files", lambda n: {f"f{i}": "" for i in range(n)}),
        (Run, "deleted_filenames", lambda n: [f"f{i}" for i in range(n)]),
        (NewAvatar, "starting_files", lambda n: {f"f{i}": "" for i in range(n)}),
    ],
)
def test_a_request_holds_at_most_max_request_files_of_each_kind(
    model: type[Run] | type[NewAvatar], field: str, files: object
) -> None:
    settings = Settings(max_request_files=3)
    extra = {"starting_files": {}} if model is NewAvatar and field != "starting_files" else {}
    parse(model, settings, **extra, **{field: files(3)})  # type: ignore[operator]
    with pytest.raises(TooLarge, match=f"{field}: 4 files, over the 3 .*RUNNER_MAX_REQUEST_FILES"):
        parse(model, settings, **extra, **{field: files(4)})  # type: ignore[operator]


def test_a_request_the_runner_built_itself_is_not_counted() -> None:
    Run.model_validate({"image_name": SHELL, "changed_files": {f"f{i}": "" for i in range(1001)}})


def test_a_file_that_is_also_the_folder_of_another_is_refused() -> None:
    from pydantic import ValidationError

    from runner.models import Run

    with pytest.raises(ValidationError, match="is under 'a', a file too"):
        Run(image_name="cyber-dojo-local/shell", changed_files={"a": "x", "a/b": "y"})
    assert Run(image_name="cyber-dojo-local/shell", changed_files={"a/b": "x", "a/c": "y"})
