"""What the figures were measured on: cores, memory, kernel, docker, date, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ("api", "worker", "runner", "images", "requirements.txt")  # what the figures are of


def facts(client: Any) -> dict[str, str]:
    """The machine and the code the bench ran on, as labelled strings."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": f"{os.cpu_count()} ({_cpu_model()})",
        "memory": f"{_mem_total_kib() / 2**20:.1f} GiB",
        "kernel": platform.release(),
        "docker": f"engine {client.version().get('Version', '?')}",
        "python": platform.python_version(),
        "commit": _commit(),
        "load average at start": load_average(),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: others' work on a shared machine shows here."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def _mem_total_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", *MEASURED)
    return f"{head} + uncommitted changes to the runner" if changed else head
