"""What one mode's measurements found, kept until the table of both modes is made."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cpu import Spent
from bench.latency import Latency
from bench.rss import Peak
from bench.stress import Flood, RedGreen


@dataclass
class Rate:
    """One throughput measurement: runs on each side, the seconds and the CPU they took."""

    runs: int
    runner_s: float
    raw_s: float
    runner_cpu: Spent
    raw_cpu: Spent

    @property
    def runner(self) -> float:
        return self.runs / self.runner_s

    @property
    def raw(self) -> float:
        return self.runs / self.raw_s

    @property
    def runner_cpu_s(self) -> float:
        """Machine CPU seconds per run through the runner."""
        return self.runner_cpu.total / self.runs

    @property
    def raw_cpu_s(self) -> float:
        return self.raw_cpu.total / self.runs


@dataclass(frozen=True)
class DojoClass:
    """A class pressing "test" together: its script, its size, on one kata or one each."""

    script: str
    size: int
    spread: bool

    @property
    def label(self) -> str:
        where = f"over {self.size} katas" if self.spread else "of one kata"
        return f"`{self.script}`, {self.size} avatars {where}"


@dataclass
class Figures:
    """Everything measured in one mode (RUNNER_RUN_CONTAINER)."""

    mode: str
    latency: Latency | None = None
    files: Latency | None = None
    rates: dict[int, Rate] = field(default_factory=dict)  # by concurrency
    dojo: dict[DojoClass, list[float]] = field(default_factory=dict)  # sorted lights
    flood: Flood | None = None
    flood_peak: Peak | None = None
    red_green: RedGreen | None = None
