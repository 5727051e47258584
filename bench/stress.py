"""Measurement 4: a `yes` flood against memory and disk; a Python kata red, then green."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.katas import GREEN_HIKER, PYTHON, RED_HIKER, SHELL
from bench.raw import RawFloor, sandbox_tar
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
    """Rounds of a red then a green run: seconds (client-side), the runs' own duration_ms,
    and the raw floor's lifecycle of the same pytest run on the same sandbox."""

    red_s: list[float] = field(default_factory=list)
    green_s: list[float] = field(default_factory=list)
    red_ms: list[float] = field(default_factory=list)
    green_ms: list[float] = field(default_factory=list)
    raw_red_s: list[float] = field(default_factory=list)
    raw_green_s: list[float] = field(default_factory=list)


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


def red_green(
    runner: RunnerClient, raw: RawFloor, kata_id: str, avatar: str, rounds: int, warmup: int = 1
) -> RedGreen:
    """The avatar's pytest kata red, then green, rounds times (after warmup rounds), each
    run followed by the raw lifecycle of the same `pytest -q` with the same hiker.py put in."""
    found = RedGreen()
    for round_ in range(warmup + rounds):
        for hiker, colour in ((RED_HIKER, "red"), (GREEN_HIKER, "green")):
            job, seconds = timed_run(runner, kata_id, avatar, PYTHON, {"hiker.py": hiker})
            ran = result(job)
            if ran["colour"] != colour:
                raise BenchError(f"the pytest kata went {ran['colour']}, not {colour}")
            files = sandbox_tar({"hiker.py": hiker}, avatar)
            floor = raw.lifecycle(kata_id, avatar, files, image=PYTHON, statuses=(0, 1))
            if round_ < warmup:
                continue
            if colour == "red":
                found.red_s.append(seconds)
                found.red_ms.append(ran["duration_ms"])
                found.raw_red_s.append(floor)
            else:
                found.green_s.append(seconds)
                found.green_ms.append(ran["duration_ms"])
                found.raw_green_s.append(floor)
    return found
