"""Measurement 4: a `yes` flood against memory and disk; a Python kata red, then green."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.katas import GREEN_HIKER, PYTHON, SHELL
from bench.session import Api, BenchError


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


def flood(api: Api, client: Any, kata_id: str, avatar: str) -> Flood:
    """A run of `yes` (the avatar's cyber-dojo.sh) until max_seconds=10 stops it."""
    before = disk_use(client)
    job, seconds = api.timed_run(kata_id, avatar, SHELL, max_seconds=10)
    after = disk_use(client)
    result = job["result"]
    return Flood(seconds, result["colour"], result["stdout"]["truncated"], before, after)


def red_green(api: Api, kata_id: str, avatar: str) -> RedGreen:
    """The avatar's pytest kata as made (red), then with the answer fixed (green)."""
    red, red_s = api.timed_run(kata_id, avatar, PYTHON)
    green, green_s = api.timed_run(kata_id, avatar, PYTHON, {"hiker.py": GREEN_HIKER})
    colours = (red["result"]["colour"], green["result"]["colour"])
    if colours != ("red", "green"):
        raise BenchError(f"the pytest kata went {colours}, not red then green")
    return RedGreen(red_s, red["result"]["duration_ms"], green_s, green["result"]["duration_ms"])
