"""The memory of a process session (a worker and its pool), sampled from /proc."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Peak:
    """The highest summed RSS and PSS seen, in bytes, and over how many processes."""

    rss: int = 0
    pss: int = 0
    processes: int = 0

    def update(self, rss: int, pss: int, processes: int) -> None:
        if rss > self.rss:
            self.rss, self.processes = rss, processes
        self.pss = max(self.pss, pss)


def session_memory(session_id: int) -> tuple[int, int, int]:
    """Summed RSS and PSS (bytes) of every process of the session, and how many there are."""
    rss = pss = count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # Fields after the command's closing parenthesis: state ppid pgrp session ...
            if int(stat[stat.rindex(")") + 2 :].split()[3]) != session_id:
                continue
            rss += int((entry / "statm").read_text().split()[1]) * PAGE
            pss += _pss(entry)
            count += 1
        except (OSError, ValueError, IndexError):
            continue  # the process ended while it was read
    return rss, pss, count


def _pss(entry: Path) -> int:
    for line in (entry / "smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """Samples a session's memory in a thread; keeps the peak overall and per named phase."""

    def __init__(self, session: Callable[[], int | None], interval_s: float = 0.2) -> None:
        self.session = session
        self.interval_s = interval_s
        self.overall = Peak()
        self.phases: dict[str, Peak] = {}
        self._phase: Peak | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[Peak]:
        """Peaks inside the block are also kept under name."""
        peak = self.phases.setdefault(name, Peak())
        self._phase = peak
        try:
            self.sample()
            yield peak
            self.sample()
        finally:
            self._phase = None

    def sample(self) -> None:
        session_id = self.session()
        if session_id is None:
            return
        rss, pss, count = session_memory(session_id)
        if count == 0:
            return
        self.overall.update(rss, pss, count)
        if self._phase is not None:
            self._phase.update(rss, pss, count)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()
