"""The result of a run, built from what the run script reported: pure."""

from __future__ import annotations

import logging
from typing import TypedDict

from worker.colour import ColourRules
from worker.output import Capped, cap_text, is_text
from worker.protocol import Frames

log = logging.getLogger(__name__)

KILLED_STATUS = 137  # 128 + SIGKILL: the status of a run the runner killed


class RunResult(TypedDict):
    """The result of a run job, every field of API.md's run result."""

    stdout: Capped
    stderr: Capped
    status: int
    colour: str
    timed_out: bool
    oom_killed: bool
    duration_ms: int
    created: dict[str, Capped]
    changed: dict[str, Capped]
    deleted: list[str]


def run_result(
    frames: Frames,
    *,
    exit_code: int | None,
    killed: bool,
    oom_killed: bool,
    elapsed_ms: int,
    rules: ColourRules | None,
    output_bytes: int,
    file_bytes: int,
    max_created: int,
) -> RunResult:
    """Caps, decodes and judges one run.

    `exit_code` and `elapsed_ms` are the container's, used when the run script could not
    report (user code killed it); `killed` says the runner killed the container at its deadline.
    """
    stdout = cap_text(frames.stdout, output_bytes)
    stderr = cap_text(frames.stderr, output_bytes)
    timed_out = frames.timed_out or killed
    if frames.status is not None:
        status = frames.status
    else:  # the engine was asked for the exit code whenever the report lacks the status
        status = KILLED_STATUS if killed or exit_code is None else exit_code
    if timed_out:
        colour = "timed_out"
    elif rules is None:
        colour = "faulty"
    elif frames.status is None:
        log.warning("the run script did not report (exit %s): colour faulty", exit_code)
        colour = "faulty"
    else:
        colour = rules.colour(stdout["content"], stderr["content"], status)
    created = _text_files(frames.created, file_bytes)
    return {
        "stdout": stdout,
        "stderr": stderr,
        "status": status,
        "colour": colour,
        "timed_out": timed_out,
        "oom_killed": oom_killed,
        "duration_ms": frames.duration_ms if frames.duration_ms is not None else elapsed_ms,
        "created": dict(sorted(created.items())[:max_created]),
        "changed": dict(sorted(_text_files(frames.changed, file_bytes).items())),
        "deleted": sorted(name for name in map(_filename, frames.deleted) if name is not None),
    }


def _text_files(files: dict[bytes, bytes], limit: int) -> dict[str, Capped]:
    texts = {}
    for raw_name, content in files.items():
        name = _filename(raw_name)
        if name is not None and is_text(content[:limit]):
            texts[name] = cap_text(content, limit)
    return texts


def _filename(raw_name: bytes) -> str | None:
    """The name as text; None for a name that is not UTF-8 (user code made it)."""
    try:
        return raw_name.decode("utf-8")
    except UnicodeDecodeError:
        return None
