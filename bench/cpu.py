"""Where the machine's CPU goes during a measurement: /proc, by process group."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")

# A process's group, by its command line; checked in this order (the bench's own command
# line may hold any text, a note, so it goes first). Reaped children count with the process
# that reaped them: containers and their shims mostly with the machine's init, "others".
OTHERS = "others (containers, runc, init)"
GROUPS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("the bench's own process", lambda c: " -m bench" in c),
    ("dockerd", lambda c: "dockerd" in c),
    ("containerd-shim", lambda c: "containerd-shim" in c),
    ("containerd", lambda c: "containerd" in c),
    ("worker", lambda c: "celery" in c and " worker " in c),
    ("beat", lambda c: "celery" in c and " beat" in c),
    ("API (gunicorn)", lambda c: "gunicorn" in c),
    ("redis", lambda c: "redis-server" in c),
)


def group_of(pid: str) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return OTHERS
    return next((group for group, is_it in GROUPS if is_it(command)), OTHERS)


def by_group() -> dict[str, float]:
    """CPU seconds so far of every live process and the children it reaped, by group."""
    found: dict[str, float] = defaultdict(float)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[group_of(pid)] += sum(int(n) for n in fields[11:15]) / TICK
    return found


def machine() -> float:
    """CPU seconds the machine has spent busy (user, nice, system, irq, softirq, steal)."""
    counts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(n) for n in counts[:3] + counts[5:8]) / TICK


@dataclass
class Spent:
    """CPU seconds spent over one measurement: the machine's and each group's."""

    total: float = 0.0
    groups: dict[str, float] = field(default_factory=dict)

    def __add__(self, other: Spent) -> Spent:
        groups = {
            g: self.groups.get(g, 0.0) + other.groups.get(g, 0.0)
            for g in set(self.groups) | set(other.groups)
        }
        return Spent(self.total + other.total, groups)


def spent(measure: Callable[[], float]) -> tuple[float, Spent]:
    """Runs measure, returning its result and the CPU the machine spent meanwhile."""
    before, total = by_group(), machine()
    result = measure()
    after, total_after = by_group(), machine()
    groups = {g: after.get(g, 0.0) - before.get(g, 0.0) for g in set(before) | set(after)}
    return result, Spent(total_after - total, {g: s for g, s in groups.items() if s > 0})
