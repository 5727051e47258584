"""How much each measurement runs: the full bench, and a quick pass that checks the harness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# RUNNER_RUN_CONTAINER: each run an exec into the kata's live container, or a container of its own.
Mode = Literal["kata", "fresh"]
MODES: tuple[Mode, ...] = ("kata", "fresh")


@dataclass(frozen=True)
class Plan:
    """Counts of runs, katas and submissions; every mode runs the same."""

    latency_runs: int = 50
    files_runs: int = 20
    files_sent: int = 50
    file_bytes: int = 10 * 1024
    throughput_runs: int = 200
    throughput_katas: int = 20
    concurrencies: tuple[int, ...] = (4, 2, 1)  # 2 also serves measurements 1, 4, 5 and 6
    submissions: int = 1000
    dojo_sizes: tuple[int, ...] = (30, 64)
    red_green_rounds: int = 5
    exec_rounds: int = 50  # the exec against a process start
    forks: int = 200

    @property
    def dojo_size(self) -> int:
        """The largest class: the avatars of the dojo kata, the katas of the spread class."""
        return max(self.dojo_sizes)

    @property
    def spread_katas(self) -> int:
        return max(self.throughput_katas, self.dojo_size)


FULL = Plan()
QUICK = Plan(
    latency_runs=5,
    files_runs=3,
    throughput_runs=24,
    throughput_katas=6,
    concurrencies=(2,),
    submissions=100,
    dojo_sizes=(6, 12),
    red_green_rounds=1,
    exec_rounds=5,
    forks=50,
)
