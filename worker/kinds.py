"""The job kinds, in one table: the request each is parsed with, what a successful one does to
the kata's record, and the sandbox operation that carries it out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.models import (
    CyberDojoRun,
    NewAvatar,
    NewKata,
    OldAvatar,
    OldKata,
    PullImage,
    Request,
    Run,
)
from sandbox import cyber_dojo_run, operations, runs


@dataclass(frozen=True)
class Kind:
    """One job kind as a worker runs it."""

    request: type[Request]
    kata_effect: str  # the kata record's time a successful job sets ("forget": the record goes)
    operation: Callable[..., Any]  # (host, images, job), and live and write_run_at for runs
    runs: bool = False  # it runs cyber-dojo.sh: in a live container, timed, coloured


KINDS: dict[str, Kind] = {
    "pull_image": Kind(PullImage, "", operations.pull_image),
    "new_kata": Kind(NewKata, "hello_at", operations.new_kata),
    "new_avatar": Kind(NewAvatar, "hello_at", operations.new_avatar),
    "run": Kind(Run, "run_at", runs.run, runs=True),
    "cyber_dojo_run": Kind(CyberDojoRun, "run_at", cyber_dojo_run.run, runs=True),
    "old_kata": Kind(OldKata, "forget", operations.old_kata),
    "old_avatar": Kind(OldAvatar, "", operations.old_avatar),
}
