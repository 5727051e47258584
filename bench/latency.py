"""Measurements 1 and 5: one run after another through the API, against the raw floor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench import session
from bench.calls import Call, InProcess
from bench.raw import RawFloor
from client import RunnerClient


@dataclass
class Latency:
    """Seconds per run: through the API, the worker's drain in this process, the raw floor."""

    runner: list[float] = field(default_factory=list)
    in_process: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    queued: list[float] = field(default_factory=list)  # submitted_at to started_at
    working: list[float] = field(default_factory=list)  # started_at to finished_at
    calls: list[list[Call]] = field(default_factory=list)  # docker calls of each drain
    raw_calls: list[list[Call]] = field(default_factory=list)  # and of each raw lifecycle
    durations: list[float] = field(default_factory=list)  # the runs' own duration_ms, in s
    drain_errors: list[str] = field(default_factory=list)  # raised by in-process drains


@dataclass
class Shape:
    """What each run sends and expects back, and how the raw floor mirrors it."""

    kata_id: str
    avatar: str
    image: str
    files: Mapping[str, str] = field(default_factory=dict)
    deleted: Sequence[str] = ()
    created: int = 0  # created files each run must return
    raw_files: bytes = b""  # the tar the raw floor puts in
    raw_out: str = ""  # the folder the raw floor gets back


def measure(
    runner: RunnerClient,
    raw: RawFloor,
    in_process: InProcess,
    shape: Shape,
    runs: int,
    warmup: int = 2,
) -> Latency:
    """runs rounds of: a run through the API, the same run drained here, a raw lifecycle."""
    result = Latency()
    for round_ in range(warmup + runs):
        job, seconds = session.timed_run(
            runner, shape.kata_id, shape.avatar, shape.image, shape.files, shape.deleted
        )
        ran = session.result(job)
        created = len(ran["created"])
        if created != shape.created:
            raise session.BenchError(f"a run returned {created} created files, not {shape.created}")
        drained, calls, error = in_process.drain_one(
            shape.kata_id, shape.avatar, shape.image, shape.files, shape.deleted
        )
        raw.log.take()
        floor = raw.lifecycle(shape.kata_id, shape.avatar, shape.raw_files, shape.raw_out)
        raw_calls = raw.log.take()
        if error:
            result.drain_errors.append(error)
        if round_ < warmup:
            continue
        result.runner.append(seconds)
        result.in_process.append(drained)
        result.raw.append(floor)
        result.calls.append(calls)
        result.raw_calls.append(raw_calls)
        result.durations.append(ran["duration_ms"] / 1000)
        submitted, started, finished = session.stamps(job)
        result.queued.append(started - submitted)
        result.working.append(finished - started)
    return result
