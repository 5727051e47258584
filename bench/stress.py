"""Measurement 4: a `yes` flood against memory and disk; a Python kata red, then green."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.katas import GREEN_HIKER, PYTHON, SHELL
from bench.session import BenchError, result, timed_run
from client import RunnerClient


@dataclass
class Flood:
    """A flood run's seconds and result, and the engine's disk use around it."""

    seconds: float
    colour: str
    stdout_truncated: bool
    disk_before: int
    disk_after: int


@dataclass
class RedGreen:
    """Seconds (client-side) and the run's own duration_ms of a red then a green run."""

    red_s: float
    red_ms: int
    green_s: float
    green_ms: int


def disk_use(client: Any) -> int:
    """Bytes the engine's containers (writable layers) and volumes use, as `docker system df`."""
    df: dict[str, Any] = client.api.df()
    containers = sum(c.get("SizeRw") or 0 for c in df.get("Containers") or [])
    volumes = sum(
        max((v.get("UsageData") or {}).get("Size", 0), 0) for v in df.get("Volumes") or []
    )
    return int(containers + volumes)


def flood(runner: RunnerClient, client: Any, kata_id: str, avatar: str) -> Flood:
    """A run of `yes` (the avatar's cyber-dojo.sh) until max_seconds=10 stops it."""
    before = disk_use(client)
    job, seconds = timed_run(runner, kata_id, avatar, SHELL, max_seconds=10)
    after = disk_use(client)
    ran = result(job)
    return Flood(seconds, ran["colour"], ran["stdout"]["truncated"], before, after)


def red_green(runner: RunnerClient, kata_id: str, avatar: str) -> RedGreen:
    """The avatar's pytest kata as made (red), then with the answer fixed (green)."""
    red_job, red_s = timed_run(runner, kata_id, avatar, PYTHON)
    green_job, green_s = timed_run(runner, kata_id, avatar, PYTHON, {"hiker.py": GREEN_HIKER})
    red, green = result(red_job), result(green_job)
    colours = (red["colour"], green["colour"])
    if colours != ("red", "green"):
        raise BenchError(f"the pytest kata went {colours}, not red then green")
    return RedGreen(red_s, red["duration_ms"], green_s, green["duration_ms"])
