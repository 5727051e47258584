"""Measurement 3: the cost of accepting a run, with no worker consuming: time and Redis."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from client import RunnerClient

Target = tuple[str, str]  # kata id, avatar
OWN_COMMANDS = frozenset({"info"})  # the bench's own reading of the counters


@dataclass
class Submissions:
    """Client-side seconds of each submission and Redis commands per job, by command."""

    seconds: list[float]
    commands: dict[str, float]

    @property
    def commands_per_job(self) -> float:
        return sum(self.commands.values())


def measure(
    runner: RunnerClient, client: redis.Redis, targets: Sequence[Target], image: str, count: int
) -> Submissions:
    """count sequential POST runs on one keep-alive session, spread over targets."""
    for kata_id, avatar in targets[:10]:  # warm: connections, scripts loaded
        runner.run(kata_id, avatar, image, {"cyber-dojo.sh": "true"})
    before = command_calls(client)
    seconds = []
    for i in range(count):
        kata_id, avatar = targets[i % len(targets)]
        started = time.perf_counter()
        runner.run(kata_id, avatar, image, {"cyber-dojo.sh": "true"})
        seconds.append(time.perf_counter() - started)
    after = command_calls(client)
    used = {
        name: (after[name] - before.get(name, 0)) / count
        for name in after
        if name not in OWN_COMMANDS and after[name] > before.get(name, 0)
    }
    return Submissions(seconds, dict(sorted(used.items(), key=lambda kv: -kv[1])))


def command_calls(client: redis.Redis) -> Counter[str]:
    """Calls so far of each Redis command (commands run by scripts included)."""
    stats = client.info("commandstats")
    calls: Counter[str] = Counter()
    for name, value in stats.items():
        calls[name.removeprefix("cmdstat_")] = int(value["calls"])
    return calls
