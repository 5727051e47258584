"""The result of a run, built from what the agent reported: pure."""

from __future__ import annotations

import json
import logging
from typing import Protocol, TypedDict

from sandbox.output import Capped, cap_text, is_text
from sandbox.report import Frames
from traffic_lights.rules import ColourRules

log = logging.getLogger(__name__)

KILLED_STATUS = 137  # 128 + SIGKILL: the status of a run the runner killed


class Judge(Protocol):
    """Colours a run's output otherwise than by rules: a lambda judged by Ruby
    (sandbox/ruby_judge.py)."""

    def verdict(self, stdout: str, stderr: str, status: int) -> tuple[str, str | None]:
        """The colour, and why it is faulty (None when it is not)."""
        ...


class RunResult(TypedDict):
    """The result of a run job, every field of API.md's run result."""

    stdout: Capped
    stderr: Capped
    status: int
    colour: str
    faulty_reason: str | None  # why the colour is faulty; None when it is not
    timed_out: bool
    oom_killed: bool
    duration_ms: int
    created: dict[str, Capped]
    changed: dict[str, Capped]
    deleted: list[str]
    files_truncated: bool  # created or changed files were left out by the result's bounds
    too_many_files: bool  # the sandbox held more files than the agent compares
    unwritten: list[str]  # files of the request that could not be written into the sandbox


def run_result(
    frames: Frames,
    *,
    exit_code: int | None,
    killed: bool,
    oom_killed: bool,
    elapsed_ms: int,
    rules: ColourRules | Judge | str | None,
    output_bytes: int,
    file_bytes: int,
    max_created: int,
    max_changed: int,
    result_bytes: int,
) -> RunResult:
    """Caps, decodes and judges one run.

    `exit_code` and `elapsed_ms` are the container's, used when the agent could not report;
    `killed` says the runner killed the container at its deadline.
    `rules` is None, or the reason, when there are none to judge by; a Judge may find the
    run faulty too.
    """
    stdout = cap_text(frames.stdout, output_bytes)
    stderr = cap_text(frames.stderr, output_bytes)
    timed_out = frames.timed_out or killed
    if frames.status is not None:
        status = frames.status
    else:  # the engine was asked for the exit code whenever the report lacks the status
        status = KILLED_STATUS if killed or exit_code is None else exit_code
    faulty_reason = _faulty_reason(frames, exit_code, rules)
    if faulty_reason is not None and (frames.faults or not timed_out):
        colour = "faulty"
    elif timed_out:
        colour = "timed_out"
    elif isinstance(rules, ColourRules):
        colour = rules.colour(stdout["content"], stderr["content"], status)
    else:
        assert rules is not None and not isinstance(rules, str)
        colour, faulty_reason = rules.verdict(stdout["content"], stderr["content"], status)
    files, files_truncated = bounded(
        {
            "changed": _text_files(frames.changed, file_bytes),
            "created": _text_files(frames.created, file_bytes),
        },
        {"changed": max_changed, "created": max_created},
        result_bytes - _json_bytes(stdout) - _json_bytes(stderr),
    )
    return {
        "stdout": stdout,
        "stderr": stderr,
        "status": status,
        "colour": colour,
        "faulty_reason": faulty_reason if colour == "faulty" else None,
        "timed_out": timed_out,
        "oom_killed": oom_killed,
        "duration_ms": frames.duration_ms if frames.duration_ms is not None else elapsed_ms,
        "created": files["created"],
        "changed": files["changed"],
        "deleted": _filenames(frames.deleted),
        "files_truncated": files_truncated,
        "too_many_files": frames.too_many_files,
        "unwritten": _filenames(frames.unwritten),
    }


def _faulty_reason(
    frames: Frames, exit_code: int | None, rules: ColourRules | Judge | str | None
) -> str | None:
    """Why the run cannot be judged by the rules: the agent's own faults first, which
    make the run faulty even when it timed out; None when it can be."""
    if frames.faults:
        failed = "; ".join(fault.decode(errors="replace") for fault in frames.faults)
        return f"the agent's own work failed: {failed}"
    if rules is None:
        return "the image has no usable colour rules"
    if isinstance(rules, str):
        return rules
    if frames.status is None:
        return f"the agent did not report (exit {exit_code})"
    return None


def bounded(
    files: dict[str, dict[str, Capped]], most: dict[str, int], budget_bytes: int
) -> tuple[dict[str, dict[str, Capped]], bool]:
    """Each kind's files, in name order, at most most[kind] of them, while their JSON fits in
    budget_bytes (kinds in the order given); and whether any file was left out.

    The budget counts JSON, not content: escaping makes a control byte six bytes of the
    result that Redis stores.
    """
    kept: dict[str, dict[str, Capped]] = {}
    left_out = False
    for kind, found in files.items():
        kept[kind] = {}
        for name, capped in sorted(found.items()):
            size = _json_bytes({name: capped})
            if len(kept[kind]) >= most[kind] or size > budget_bytes:
                left_out = True
                continue
            kept[kind][name] = capped
            budget_bytes -= size
    return kept, left_out


def _json_bytes(value: object) -> int:
    return len(json.dumps(value).encode())


def _text_files(files: dict[bytes, bytes], limit: int) -> dict[str, Capped]:
    texts = {}
    for raw_name, content in files.items():
        name = _filename(raw_name)
        if name is not None and is_text(content[:limit]):
            texts[name] = cap_text(content, limit)
    return texts


def _filenames(raw_names: list[bytes]) -> list[str]:
    """The names as text, sorted; a name that is not UTF-8 left out."""
    return sorted(name for name in map(_filename, raw_names) if name is not None)


def _filename(raw_name: bytes) -> str | None:
    """The name as text; None for a name that is not UTF-8 (user code made it)."""
    try:
        return raw_name.decode("utf-8")
    except UnicodeDecodeError:
        return None
