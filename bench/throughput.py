"""Measurement 2: runs per second over many katas, against the raw floor's parallel rate."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from bench import session
from bench.raw import RawFloor

Target = tuple[str, str]  # kata id, avatar


def runner_rate(url: str, targets: Sequence[Target], runs: int, image: str) -> float:
    """Runs per second: runs submitted round-robin over targets at once, until the last ends."""
    runner = session.connect(url)
    by_kata: dict[Target, list[str]] = defaultdict(list)
    started = time.perf_counter()
    for i in range(runs):
        kata_id, avatar = targets[i % len(targets)]
        by_kata[(kata_id, avatar)].append(runner.run(kata_id, avatar, image)["job_id"])
    runner.close()
    with ThreadPoolExecutor(len(by_kata)) as pool:
        ended = list(pool.map(lambda ids: _wait_in_order(url, ids), by_kata.values()))
    return runs / (max(ended) - started)


def _wait_in_order(url: str, job_ids: Sequence[str]) -> float:
    """When the last of a kata's jobs (which end in order) was seen ending."""
    runner = session.connect(url)
    try:
        for job_id in job_ids:
            session.done(runner, job_id)
        return time.perf_counter()
    finally:
        runner.close()


def raw_rate(raw: RawFloor, targets: Sequence[Target], runs: int, threads: int) -> float:
    """Lifecycles per second of `threads` threads doing runs lifecycles over targets."""
    work = [targets[i % len(targets)] for i in range(runs)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda target: raw.lifecycle(*target), work))
    return runs / (time.perf_counter() - started)


def warm_up(url: str, raw: RawFloor, targets: Sequence[Target], image: str, n: int) -> None:
    """A first run on each pool process (it connects to docker and Redis on first use) and
    on each target (in kata mode, its first run starts the kata's container)."""
    runner_rate(url, targets, max(len(targets), 2 * n), image)
    raw_rate(raw, targets[:n], n, n)
