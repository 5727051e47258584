"""The figures as markdown: the table printed at the end, and bench/RESULTS.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HISTORY = "## History"
TARGETS = "## Against the targets (this run)"

METHOD = """\
- One service instance of its own: a Redis on a free loopback port, gunicorn (gevent),
  `celery beat` (the sweep every 5 s; the reaper and the removal of idle kata containers
  pushed out to a day) and one Celery worker (prefork), all with
  `RUNNER_INSTANCE=bench<random>` and `RUNNER_LOG_LEVEL=INFO`. The worker is restarted for
  each concurrency and each mode: `kata` (`RUNNER_RUN_CONTAINER=kata`, the default: a run is
  an exec into the kata's live container) then `fresh` (a container per run), so that the
  two modes of one concurrency are measured minutes apart. Measurements 1, 4, 5 and 6 run at
  the default concurrency, 2, in each mode. The katas are made beforehand with the worker's
  own operations (`sandbox.operations`) in the bench's process. Every container and volume of
  the instance is removed at the end, also when the bench fails.
- Runner figures are client-side: `POST .../runs`, then `GET /jobs/{id}?wait=20` on the same
  keep-alive session, until the job is done.
- The raw floor is the docker SDK alone: create, (put_archive), start, wait, logs,
  (get_archive), remove a container of the same image running `sh ./cyber-dojo.sh` in the
  avatar's sandbox on the kata's volume, as the avatar's uid:5000, with
  `sandbox.limits.run_limits(settings)` except the log driver (`json-file`: `none` cannot be
  read back with logs). Latency rounds interleave a run through the API, the same run drained
  in the bench's process, and a raw lifecycle; each mode's figures are against the raw
  floor of its own rounds (the raw column shows kata's / fresh's). The pytest rounds put
  the same `hiker.py` into the sandbox by archive and run the same `pytest -q` raw.
- Docker API calls are counted in the bench's process: the docker client's `api.send` is
  wrapped, and `worker.drain.drain` runs one queued run job (what a worker does for a
  drain of one job: the lease, `sandbox.runs.run`, the job's end; the listing of older
  fences' containers only follows a lease that was not released clean), in the mode's
  settings. The worker processes are not changed. The run runs while the worker reads its
  output stream (the attach of a fresh container, the exec's own stream in kata mode),
  between calls: the bench's process times that reading too, as a pseudo-call in
  parentheses; the raw container runs inside `wait`.
- Redis commands per job: the difference of `INFO commandstats` around the submissions
  (commands run by the Lua scripts included, the bench's own `INFO` excluded), with the
  worker and beat stopped; the queued jobs are then flushed.
- Throughput: each side runs its runs in two halves, in the order runner, raw, raw, runner, so
  that a machine getting busier or quieter during the measurement weighs on both alike; a
  side's rate is its runs over the time of its two halves.
- CPU per run: the machine's busy time from `/proc/stat` around each throughput measurement,
  and each process group's from `/proc/<pid>/stat` (its own time and that of the children it
  reaped: container processes and their shims count mostly with the machine's init). On 2
  cores the throughput at concurrency 2 and 4 is bound by CPU: what the runner spends beyond
  raw per run is what it loses in runs per second.
- Worker memory: RSS (and PSS) summed over the worker's session (its main process and pool)
  from `/proc`, sampled every 0.2 s; RSS counts the pages the pool shares once per process.
- Docker disk: the writable layers of all containers plus all volumes, from the engine's
  `/system/df` (what `docker system df` shows).
- A dojo class: one thread per avatar, each with its connection open, released together
  by a barrier; a light is when its job is seen done. On one kata the runs are serialized
  by the kata's lease; over many katas they share the worker's processes.
- Exec against a process start, with no worker running: one container made as a live
  kata container is (its waiting root shell, the run limits, the kata's volume) runs
  `true` as an avatar: by the SDK's exec as the worker makes one; by `runc exec` started
  by the bench against the container's runc state (skipped on a host without it); by an
  agent, a shell loop in the container that reads a request line from a fifo in a folder
  bound from the bench's host, forks `sh -c true`, and answers on a second fifo; and as
  the cost of one `sh -c true` forked inside, from a loop's exec timed with and without the
  processes. The agent is a measurement of what a channel that skips the engine could
  reach, not a design: a real one would have to do what `runc exec` does for every run
  (the avatar's uid and groups, no capabilities, no new privileges, limits, its own
  process group to kill) and must not be a program of the image.
- Queue wait under saturation (`bench/queue_wait.py`, measured last; `python -m
  bench.queue_wait` measures it alone and writes its section here): a worker in kata mode at
  the default concurrency and drain batch; busy katas each keep a number of `sleep 0.2` runs
  queued (a thread per kata submits the next as the oldest ends), and a new kata comes every
  few seconds (its PUT, its avatar's PUT and one `true` run, each waited for). A job's queue
  wait is its record's `submitted_at` to `started_at`; the busy katas' runs counted are those
  submitted while new katas came.
- The machine is shared (see the load averages): figures vary from run to run by tens of
  percent; compare ratios, which are measured minutes or seconds apart.
"""


@dataclass
class Row:
    """One line of the main table: the runner in each mode, the raw floor measured with each
    (kata's rounds / fresh's), and the ratios."""

    measure: str
    kata: str
    fresh: str = ""
    raw: str = ""
    kata_raw: str = ""
    fresh_raw: str = ""
    kata_fresh: str = ""


@dataclass
class Section:
    """A smaller table under its own heading."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]

    def markdown(self) -> str:
        return f"### {self.title}\n\n{_table(self.header, self.rows)}"


@dataclass
class Report:
    """Everything one bench run found."""

    facts: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    headline: str = ""  # the key figures, for the history
    targets: dict[float, str] = field(default_factory=dict)  # the issues' targets, met or not
    wall_s: float = 0.0

    def table(self) -> str:
        return _table(
            (
                "measure",
                "kata",
                "fresh",
                "raw floor (kata's / fresh's)",
                "kata/raw",
                "fresh/raw",
                "kata/fresh",
            ),
            [
                (r.measure, r.kata, r.fresh, r.raw, r.kata_raw, r.fresh_raw, r.kata_fresh)
                for r in self.rows
            ],
        )

    def text(self) -> str:
        """The table and the sections, as printed."""
        return "\n\n".join([self.table(), *(s.markdown() for s in self.sections)]) + "\n"

    def markdown(self, history: Sequence[str]) -> str:
        """The whole of RESULTS.md."""
        machine = "\n".join(f"- {name}: {value}" for name, value in self.facts.items())
        return (
            "# Benchmarks\n\n"
            "`make bench` brings up a runner of its own and measures it against the raw "
            "floor of the docker engine. The latest figures:\n\n"
            f"{machine}\n"
            f"- bench wall time: {self.wall_s / 60:.1f} min\n\n"
            f"{self.text()}\n"
            f"{TARGETS}\n\n" + "\n".join(self.targets[k] for k in sorted(self.targets)) + "\n\n"
            f"## How it is measured\n\n{METHOD}\n"
            f"{HISTORY}\n\n" + "\n".join(history) + "\n"
        )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def history_entries(path: Path = RESULTS) -> list[str]:
    """The entries (lines starting with '- ') of the History section of path, if any."""
    if not path.exists():
        return []
    _, found, rest = path.read_text().partition(HISTORY + "\n")
    section = rest.split("\n## ")[0]  # up to the next heading, if any
    return [line for line in section.splitlines() if line.startswith("- ")] if found else []


def write(report: Report, note: str | None, path: Path = RESULTS) -> None:
    """Writes path: the latest figures, the history kept, with a new entry when noted."""
    history = history_entries(path)
    if not history or note:
        entry = note or "baseline"
        history.append(
            f"- {report.facts['date']}, {report.facts['commit']}: {entry}. {report.headline}"
        )
    path.write_text(report.markdown(history))
