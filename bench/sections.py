"""The smaller tables under the main one: where a run's time goes, call by call."""

from __future__ import annotations

import re
from collections import Counter

from bench.calls import Call, per_run
from bench.cpu import Spent
from bench.latency import Latency
from bench.report import Section
from bench.stats import ms, percentile


def time_split(kata: Latency, fresh: Latency, what: str) -> Section:
    """Spans of a run, through the API, in the bench's process and raw, by p50, each mode."""

    def in_calls(rounds: list[list[Call]]) -> list[float]:
        return [sum(call.seconds for call in calls if call.api) for calls in rounds]

    def reading(rounds: list[list[Call]]) -> list[float]:
        return [sum(call.seconds for call in calls if not call.api) for calls in rounds]

    def spans(found: Latency) -> list[list[float]]:
        calls, read = in_calls(found.calls), reading(found.calls)
        outside = [d - c - r for d, c, r in zip(found.in_process, calls, read, strict=True)]
        return [
            found.runner,
            found.queued,
            found.working,
            found.in_process,
            calls,
            read,
            outside,
            found.durations,
            found.raw,
            in_calls(found.raw_calls),
        ]

    names = [
        "POST run to the answer of GET /jobs/{id}?wait= (client)",
        "job record: submitted_at to started_at (wake-up, lease, take)",
        "job record: started_at to finished_at (the worker's run)",
        "the same run drained in the bench's process",
        "... of which inside docker API calls",
        "... of which reading the output stream or the agent's answer to its end (the run runs "
        "meanwhile)",
        "... of which neither (the request sent on stdin, Redis, the worker's own work)",
        "`cyber-dojo.sh` itself (the result's duration_ms)",
        "raw floor (this mode's rounds): the whole lifecycle",
        "... of which inside docker API calls",
    ]
    columns = [spans(kata), spans(fresh)]
    return Section(
        f"Where a {what} run's time goes (p50 of each span)",
        ("span", "kata", "fresh"),
        [
            (name, *(ms(percentile(column[i], 50)) for column in columns))
            for i, name in enumerate(names)
        ],
    )


def call_table(kata: Latency, fresh: Latency, what: str) -> Section:
    """Docker API calls per run and their mean time: the worker's drain in each mode, and
    raw (in kata's rounds)."""
    tables = [
        {name: (per, mean) for name, per, mean in per_run(found)}
        for found in (kata.calls, fresh.calls, kata.raw_calls)
    ]

    def cells(table: dict[str, tuple[float, float]], name: str) -> tuple[str, str]:
        if name not in table:
            return "", ""
        per, mean = table[name]
        return f"{per:.3g}", f"{mean:.1f}"

    names = list(dict.fromkeys(name for table in tables for name in table))
    return Section(
        f"Docker API calls of one {what} run job (in the bench's process) and of raw",
        (
            "call",
            "kata per run",
            "kata mean ms",
            "fresh per run",
            "fresh mean ms",
            "raw per run",
            "raw mean ms",
        ),
        [(name, *(cell for table in tables for cell in cells(table, name))) for name in names],
    )


def cpu_split(concurrency: int, runs: int, spent: dict[str, tuple[Spent, Spent]]) -> Section:
    """CPU per run of each mode's throughput and of the raw halves measured with it, for
    the machine and each process group."""
    columns = [side for runner_raw in spent.values() for side in runner_raw]
    every = set().union(*(side.groups for side in columns))
    groups = sorted(every, key=lambda g: -max(side.groups.get(g, 0.0) for side in columns))
    rows = [("the whole machine", *(_per_run(side.total, runs) for side in columns))]
    rows += [
        (group, *(_per_run(side.groups.get(group, 0.0), runs) for side in columns))
        for group in groups
        if max(side.groups.get(group, 0.0) for side in columns) * 1000 / runs >= 0.5
    ]
    header = ["process group (with the children it reaped)"]
    for mode in spent:
        header += [mode, f"raw ({mode}'s halves)"]
    return Section(
        f"CPU per run of the throughput at concurrency {concurrency} (from /proc)",
        header,
        rows,
    )


def _per_run(seconds: float, runs: int) -> str:
    return f"{seconds * 1000 / runs:.1f} ms"


def calls_per_run(rounds: list[list[Call]]) -> float:
    """Mean number of docker API calls per round."""
    return sum(sum(call.api for call in calls) for calls in rounds) / len(rounds)


def errors(messages: list[str], shown: int = 5) -> Section:
    """The most frequent error messages, each cut to its first line and 160 characters."""
    counts = Counter(_generic(message)[:160] for message in messages)
    return Section(
        "Errors while measuring (the most frequent)",
        ("times", "message"),
        [(str(n), message.replace("|", "/")) for message, n in counts.most_common(shown)],
    )


def _generic(message: str) -> str:
    """The first line of message without the ids that make each one unique."""
    line = message.splitlines()[0] if message else ""
    line = re.sub(r"\[[0-9a-f-]{8,}\]", "[...]", line)
    return re.sub(r"\bj_[A-Za-z0-9_-]{16}\b", "j_...", line)
