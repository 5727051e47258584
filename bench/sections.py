"""The smaller tables under the main one: where a run's time goes, call by call."""

from __future__ import annotations

import re
from collections import Counter

from bench.calls import Call, per_run
from bench.cpu import Spent
from bench.latency import Latency
from bench.report import Section
from bench.stats import ms, percentile


def time_split(found: Latency, what: str) -> Section:
    """Spans of a run, through the API, in the bench's process and raw, by p50."""

    def in_calls(rounds: list[list[Call]]) -> list[float]:
        return [sum(call.seconds for call in calls) for calls in rounds]

    outside = [d - c for d, c in zip(found.in_process, in_calls(found.calls), strict=True)]
    rows = [
        ("POST run to the answer of GET /jobs/{id}?wait=30 (client)", found.runner),
        ("job record: submitted_at to started_at (wake-up, lease, take)", found.queued),
        ("job record: started_at to finished_at (the worker's run)", found.working),
        ("the same run drained in the bench's process", found.in_process),
        ("... of which inside docker API calls", in_calls(found.calls)),
        ("... of which outside them (the attach stream while run.sh runs, Redis)", outside),
        ("`cyber-dojo.sh` itself (the result's duration_ms)", found.durations),
        ("raw floor: the whole lifecycle", found.raw),
        ("... of which inside docker API calls", in_calls(found.raw_calls)),
    ]
    return Section(
        f"Where a {what} run's time goes (p50 of each span)",
        ("span", "p50"),
        [(name, ms(percentile(values, 50))) for name, values in rows],
    )


def call_table(found: Latency, what: str) -> Section:
    """Docker API calls per run and their mean time: the worker's drain against raw."""
    runner = {name: (per, mean) for name, per, mean in per_run(found.calls)}
    raw = {name: (per, mean) for name, per, mean in per_run(found.raw_calls)}

    def cells(table: dict[str, tuple[float, float]], name: str) -> tuple[str, str]:
        if name not in table:
            return "", ""
        per, mean = table[name]
        return f"{per:g}", f"{mean:.1f}"

    names = list(runner) + [name for name in raw if name not in runner]
    return Section(
        f"Docker API calls of one {what} run job (in the bench's process) and of raw",
        ("call", "runner per run", "runner mean ms", "raw per run", "raw mean ms"),
        [(name, *cells(runner, name), *cells(raw, name)) for name in names],
    )


def cpu_split(concurrency: int, runs: int, runner: Spent, raw: Spent) -> Section:
    """CPU per run of the runner's throughput and of raw's, for the machine and each group."""
    groups = sorted(set(runner.groups) | set(raw.groups), key=lambda g: -runner.groups.get(g, 0))
    rows = [("the whole machine", _per_run(runner.total, runs), _per_run(raw.total, runs))]
    rows += [
        (
            group,
            _per_run(runner.groups.get(group, 0.0), runs),
            _per_run(raw.groups.get(group, 0.0), runs),
        )
        for group in groups
        if max(runner.groups.get(group, 0.0), raw.groups.get(group, 0.0)) * 1000 / runs >= 0.5
    ]
    return Section(
        f"CPU per run of the throughput at concurrency {concurrency} (from /proc)",
        ("process group (with the children it reaped)", "runner", "raw"),
        rows,
    )


def _per_run(seconds: float, runs: int) -> str:
    return f"{seconds * 1000 / runs:.1f} ms"


def calls_per_run(rounds: list[list[Call]]) -> float:
    """Mean number of docker API calls per round."""
    return sum(len(calls) for calls in rounds) / len(rounds)


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
