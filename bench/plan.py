"""How much each measurement runs: the full bench, and a quick pass that checks the harness."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Counts of runs, katas and submissions."""

    latency_runs: int = 50
    files_runs: int = 20
    files_sent: int = 50
    file_bytes: int = 10 * 1024
    throughput_runs: int = 200
    throughput_katas: int = 20
    concurrencies: tuple[int, ...] = (4, 2, 1)  # 2 also serves measurements 1, 4, 5 and 6
    submissions: int = 1000
    dojo_size: int = 30

    @property
    def spread_katas(self) -> int:
        return max(self.throughput_katas, self.dojo_size)


FULL = Plan()
QUICK = Plan(
    latency_runs=5,
    files_runs=3,
    throughput_runs=24,
    throughput_katas=6,
    submissions=100,
    dojo_size=6,
)
