"""The soak's summary: the faults, the counts, the latencies and each kind of problem."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bench.soak.service import Leftovers
from bench.soak.tally import Fault, Problem, Tally
from bench.stats import percentile

EXAMPLES = 2  # jobs shown of each kind of problem


def summary(
    found: Tally,
    faults: Sequence[Fault],
    leftovers: Leftovers,
    processes: Sequence[str],
    orphans: Sequence[str],
    load_started: float,
) -> str:
    """The table the soak prints."""
    lines = ["faults (time since the load started):"]
    for fault in faults:
        took = fault.recovered_at - fault.at
        lines.append(
            f"  +{clock(fault.at - load_started)}  {fault.name:<13} {fault.detail};"
            f" whole again after {took:.1f} s"
        )
    leaked = leftovers.total() + len(processes)
    rows = [
        ("jobs accepted", str(found.accepted)),
        ("not accepted (wrong unless near a fault)", counts(found.not_accepted)),
        ("done", str(found.done)),
        ("failed, by code", counts(found.failed)),
        ("  of which around a fault (allowed)", counts(found.fault_failed)),
        ("hostile runs done", f"{sum(found.hostile.values())}, of {len(found.hostile)} kinds"),
        ("canaries run", str(found.canaries)),
        (
            "cyber-dojo calls answered",
            f"{sum(found.cyber_dojo.values())}, of {len(found.cyber_dojo)} kinds"
            f" ({found.cyber_dojo_late} before their job ended: the job judged)",
        ),
        ("LOST", str(len(found.lost))),
        ("WRONG", str(len(found.wrong))),
        ("OUT OF ORDER", str(len(found.out_of_order))),
        (
            "LEAKED (containers, volumes, disks, processes)",
            f"{leaked} ({leftovers.containers}, {leftovers.volumes}, {leftovers.disks},"
            f" {len(processes)})",
        ),
        ("left by the docker engine's SIGKILL (not counted)", f"{len(orphans)} processes"),
        *latency_rows(found.latencies_s),
    ]
    width = max(len(name) for name, _ in rows)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    for title, problems in (
        ("lost", found.lost),
        ("wrong", found.wrong),
        ("out of order", found.out_of_order),
    ):
        lines += problem_lines(title, problems)
    lines += [f"  leaked: {item}" for item in (*leftovers.detail, *processes)][:20]
    lines += [f"  left by the docker engine: {item}" for item in orphans][:5]
    return "\n".join(lines)


def latency_rows(latencies_s: dict[str, list[float]]) -> list[tuple[str, str]]:
    """p50 and p95 of a job's time from accepted to done: all jobs, then by role."""
    every = [s for values in latencies_s.values() for s in values]
    rows = []
    for role, values in [("all jobs", every), *sorted(latencies_s.items())]:
        if values:
            p50, p95 = percentile(values, 50), percentile(values, 95)
            rows.append(
                (
                    f"accepted to done, {role}",
                    f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(values):.1f} s",
                )
            )
    return rows


def problem_lines(title: str, problems: Sequence[Problem]) -> list[str]:
    """Each kind of problem with its count, most frequent first, and a job or two of it."""
    if not problems:
        return []
    lines = [f"{title}, by kind:"]
    kinds = Counter(p.what for p in problems)
    for what, count in kinds.most_common():
        lines.append(f"  {count:>5}  {what}")
        for example in [p for p in problems if p.what == what][:EXAMPLES]:
            lines.append(f"         e.g. {example.where} {example.detail}".rstrip()[:220])
    return lines


def counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counter.most_common()) or "0"


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
