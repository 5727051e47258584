"""Queue wait under saturation: while busy katas keep the worker's queues full, new katas come
one after another; how long each job waited between being accepted and being started (its
record's submitted_at to started_at). A new kata's first job must not wait for the busy ones.

`python -m bench.queue_wait` measures on a stack of its own and writes its section into
bench/RESULTS.md; `python -m bench` measures it last, and writes it with the rest.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import session
from bench.katas import SHELL, SLEEPS, new_kata_id
from bench.report import RESULTS, TARGETS, Section
from bench.stack import Stack, remove_docker_objects
from bench.stats import percentile, secs
from client import Job, RunnerClient

Say = Callable[[str], None]
TITLE = "Queue wait under saturation"


@dataclass(frozen=True)
class Load:
    """The busy katas, each keeping runs queued, and the new katas that come meanwhile."""

    busy_katas: int = 6
    outstanding: int = 12  # runs each busy kata keeps queued or running
    new_katas: int = 24
    new_every_s: float = 3.0
    concurrency: int = 2  # the worker's default

    def describe(self) -> str:
        return (
            f"kata mode, concurrency {self.concurrency}, default drain batch; "
            f"{self.busy_katas} busy katas keep {self.outstanding} runs each (`{SLEEPS}`) "
            f"queued; a new kata every {self.new_every_s:g} s, {self.new_katas} in all"
        )


LOAD = Load()
QUICK_LOAD = Load(busy_katas=3, outstanding=6, new_katas=4)


@dataclass
class Waits:
    """Seconds from accepted to started, by kind of job."""

    first_jobs: list[float] = field(default_factory=list)  # a new kata's PUT
    first_runs: list[float] = field(default_factory=list)  # its first run, after its avatar
    busy_runs: list[float] = field(default_factory=list)  # the busy katas' runs meanwhile


def waited(job: Job) -> float:
    submitted, started, _ = session.stamps(job)
    return started - submitted


class Saturation:
    """The busy katas' feeders and the new katas' threads, on one runner."""

    def __init__(self, url: str, load: Load) -> None:
        self.url = url
        self.load = load
        self.stop = threading.Event()
        self.katas: list[str] = []
        self.busy_jobs: list[Job] = []
        self.new_jobs: list[tuple[Job, Job]] = []
        self.errors: list[BaseException] = []

    def make_kata(self, runner: RunnerClient, script: str) -> str:
        kata_id = new_kata_id()
        self.katas.append(kata_id)
        session.done(runner, runner.new_kata(kata_id, SHELL)["job_id"])
        starting = {"cyber-dojo.sh": script}
        session.done(runner, runner.new_avatar(kata_id, "lion", SHELL, starting)["job_id"])
        return kata_id

    def feed(self, kata_id: str) -> None:
        """Keeps the kata's outstanding runs queued until stopped, then lets them end."""
        runner = session.connect(self.url)
        try:
            pending = deque(
                runner.run(kata_id, "lion", SHELL)["job_id"] for _ in range(self.load.outstanding)
            )
            while pending:
                self.busy_jobs.append(session.done(runner, pending.popleft()))
                if not self.stop.is_set():
                    pending.append(runner.run(kata_id, "lion", SHELL)["job_id"])
        except BaseException as error:
            self.errors.append(error)
        finally:
            runner.close()

    def newcomer(self) -> None:
        """A new kata: its PUT (its first job), its avatar, its first run."""
        runner = session.connect(self.url)
        try:
            kata_id = new_kata_id()
            self.katas.append(kata_id)
            first = session.done(runner, runner.new_kata(kata_id, SHELL)["job_id"])
            avatar = runner.new_avatar(kata_id, "lion", SHELL, {"cyber-dojo.sh": "true"})
            session.done(runner, avatar["job_id"])
            run = session.done(runner, runner.run(kata_id, "lion", SHELL)["job_id"])
            self.new_jobs.append((first, run))
        except BaseException as error:
            self.errors.append(error)
        finally:
            runner.close()

    def remove_katas(self, runner: RunnerClient) -> None:
        for job_id in [runner.old_kata(kata_id)["job_id"] for kata_id in self.katas]:
            session.done(runner, job_id)


def measure(url: str, load: Load, say: Say) -> Waits:
    """The waits of the new katas' jobs and the busy katas' runs while new katas came."""
    runs = Saturation(url, load)
    runner = session.connect(url)
    try:
        busy = [runs.make_kata(runner, SLEEPS) for _ in range(load.busy_katas)]
        feeders = [threading.Thread(target=runs.feed, args=(k,), daemon=True) for k in busy]
        for feeder in feeders:
            feeder.start()
        time.sleep(load.new_every_s)  # the queues fill
        began = time.time()
        newcomers = []
        for _ in range(load.new_katas):
            newcomers.append(threading.Thread(target=runs.newcomer, daemon=True))
            newcomers[-1].start()
            time.sleep(load.new_every_s)
        for thread in newcomers:
            thread.join()
        ended = time.time()
        runs.stop.set()
        for feeder in feeders:
            feeder.join()
        if runs.errors:
            raise runs.errors[0]
        runs.remove_katas(runner)
    finally:
        runner.close()
    found = Waits(
        first_jobs=[waited(first) for first, _ in runs.new_jobs],
        first_runs=[waited(run) for _, run in runs.new_jobs],
        busy_runs=[
            waited(job)
            for job in runs.busy_jobs
            if began <= session.stamps(job)[0] <= ended  # submitted while new katas came
        ],
    )
    say(
        f"queue wait: new katas' first jobs p50 {secs(percentile(found.first_jobs, 50))}, "
        f"p99 {secs(percentile(found.first_jobs, 99))}; busy runs p50 "
        f"{secs(percentile(found.busy_runs, 50))}, p99 {secs(percentile(found.busy_runs, 99))}"
    )
    return found


def section(waits: Waits, load: Load) -> Section:
    """The waits as a section of RESULTS.md."""

    def row(what: str, values: list[float]) -> tuple[str, ...]:
        p50, p99 = percentile(values, 50), percentile(values, 99)
        return (what, str(len(values)), secs(p50), secs(p99), secs(max(values)))

    return Section(
        f"{TITLE} (accepted to started; {load.describe()})",
        ("jobs", "count", "p50", "p99", "max"),
        [
            row("a new kata's first job (its PUT)", waits.first_jobs),
            row("a new kata's first run (after its avatar's PUT)", waits.first_runs),
            row("the busy katas' runs (behind their own queued runs)", waits.busy_runs),
        ],
    )


def on(stack: Stack, load: Load, say: Say) -> Section:
    """Measures on a started stack with a worker of its own (kata mode), then stops it."""
    stack.start_worker(load.concurrency, "kata")
    try:
        return section(measure(stack.url, load, say), load)
    finally:
        stack.stop_worker()


def write(found: Section, path: Path = RESULTS) -> None:
    """Puts the section into path in place of an earlier one, else before the targets."""
    text = path.read_text()
    block = found.markdown() + "\n\n"
    start = text.find(f"### {TITLE}")
    if start < 0:
        start = end = text.index(TARGETS)
    else:
        end = text.index("\n#", start + 1) + 1
    path.write_text(text[:start] + block + text[end:])


def main() -> int:
    """Measures on a stack of its own; writes the section unless --quick."""

    def say(line: str) -> None:
        print(f"bench.queue_wait: {line}", file=sys.stderr, flush=True)

    quick = "--quick" in sys.argv[1:]
    log_dir = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    stack = Stack(log_dir)
    say(f"instance {stack.instance}")
    try:
        stack.start()
        found = on(stack, QUICK_LOAD if quick else LOAD, say)
    except BaseException:
        say(f"the services' logs are kept in {log_dir}")
        raise
    finally:
        stack.close()
        remove_docker_objects(stack.instance)
    shutil.rmtree(log_dir, ignore_errors=True)
    print(found.markdown())
    if not quick:
        write(found)
        say(f"wrote its section of {RESULTS.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
