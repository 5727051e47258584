"""Percentiles and the few number formats the report uses."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> str:
    """Seconds as whole milliseconds (one decimal below 10 ms)."""
    value = seconds * 1000
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def secs(seconds: float) -> str:
    """Seconds with two decimals."""
    return f"{seconds:.2f} s"


def times(a: float, b: float) -> str:
    """How many times a is b, as '2.31x'."""
    return f"{a / b:.2f}x" if b else "n/a"


def mib(size: float) -> str:
    """Bytes as MiB with one decimal."""
    return f"{size / 2**20:.1f} MiB"
