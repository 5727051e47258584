"""The whole bench on a started stack: the six measurements, in an order that restarts the
worker least, gathered into a Report."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import cpu, dojo, latency, sections, stress, submissions, throughput
from bench.calls import InProcess
from bench.katas import CREATED, SHELL, SLEEPS, Katas, sent_files
from bench.machine import facts, load_average
from bench.plan import Plan
from bench.raw import RawFloor, sandbox_tar
from bench.report import Report, Row, Section
from bench.rss import Sampler
from bench.session import connect
from bench.stack import Stack
from bench.stats import mib, ms, percentile, secs, times
from client import RunnerClient
from worker.engine import plain_client

Say = Callable[[str], None]
DEFAULT_CONCURRENCY = 2  # the worker's default: measurements 1, 4, 5 and 6 run with it


@dataclass
class Bench:
    """What the measurements share, and the rows they add, by measurement number."""

    stack: Stack
    plan: Plan
    say: Say
    client: Any  # a plain docker SDK client
    raw: RawFloor
    in_process: InProcess
    sampler: Sampler
    api: RunnerClient  # the measurements' own keep-alive session
    katas: Katas
    report: Report
    rows: dict[int, list[Row]] = field(default_factory=dict)
    headline: dict[float, str] = field(default_factory=dict)
    drain_errors: list[str] = field(default_factory=list)

    @property
    def targets(self) -> list[tuple[str, str]]:
        return [(kata_id, "lion") for kata_id in self.katas.spread[: self.plan.throughput_katas]]

    def add(self, number: int, *rows: Row) -> None:
        self.rows.setdefault(number, []).extend(rows)

    def target(self, order: float, what: str, found: str, met: bool, target: str) -> None:
        """One of the issue's targets, as measured in this run."""
        verdict = "met" if met else "NOT met"
        self.report.targets[order] = f"- {what}: {found} (target: {target}): {verdict}."

    def throughput(self, concurrency: int) -> None:
        """2. runs per second at this worker concurrency, and raw at this parallelism.

        Each side runs in two halves, in the order runner, raw, raw, runner: a machine that
        gets busier or quieter meanwhile weighs on both sides alike.
        """
        plan, url = self.plan, self.stack.url
        throughput.warm_up(url, self.raw, self.targets, SHELL, concurrency)
        half = plan.throughput_runs // 2
        runs = 2 * half
        seconds = {"runner": 0.0, "raw": 0.0}
        used = {"runner": cpu.Spent(), "raw": cpu.Spent()}
        measure = {
            "runner": lambda: throughput.runner_rate(url, self.targets, half, SHELL),
            "raw": lambda: throughput.raw_rate(self.raw, self.targets, half, concurrency),
        }
        phase = f"throughput, concurrency {concurrency}"
        for side in ("runner", "raw", "raw", "runner"):
            sampled = self.sampler.phase(phase) if side == "runner" else contextlib.nullcontext()
            with sampled:
                rate, spent = cpu.spent(measure[side])
            seconds[side] += half / rate
            used[side] += spent
        rate, floor = runs / seconds["runner"], runs / seconds["raw"]
        self.report.sections.append(
            sections.cpu_split(concurrency, runs, used["runner"], used["raw"])
        )
        self.say(f"throughput at {concurrency}: {rate:.2f} runs/s, raw {floor:.2f}/s")
        self.add(
            2,
            Row(
                f"2. throughput, {plan.throughput_runs} runs over {plan.throughput_katas} "
                f"katas, concurrency {concurrency} "
                f"(raw: {concurrency} thread{'s' if concurrency > 1 else ''})",
                f"{rate:.2f} runs/s",
                f"{floor:.2f} runs/s",
                times(rate, floor),
            ),
        )
        self.headline[2 + concurrency / 10] = f"{rate:.2f} runs/s at concurrency {concurrency}"
        self.target(
            2 + concurrency / 10,
            f"throughput at concurrency {concurrency}",
            f"{rate / floor:.3f}x raw",
            rate >= 0.9 * floor,
            "at least 0.9x",
        )

    def latency(self) -> None:
        """1. one `true` run after another, interleaved with the same run drained here and raw."""
        kata_id = self.katas.solo
        shape = latency.Shape(kata_id, "lion", SHELL)
        with self.sampler.phase("latency"):
            found = latency.measure(
                self.api, self.raw, self.in_process, shape, self.plan.latency_runs
            )
        runs = self.plan.latency_runs
        for p in (50, 95):
            runner, floor = percentile(found.runner, p), percentile(found.raw, p)
            self.add(
                1,
                Row(
                    f"1. latency, `true`, {runs} runs, p{p}",
                    ms(runner),
                    ms(floor),
                    times(runner, floor),
                ),
            )
        drained, floor = percentile(found.in_process, 50), percentile(found.raw, 50)
        count, raw_count = (
            sections.calls_per_run(found.calls),
            sections.calls_per_run(found.raw_calls),
        )
        self.add(
            1,
            Row(
                "1. the same run drained in the bench's process (worker side), p50",
                ms(drained),
                ms(floor),
                times(drained, floor),
            ),
            Row(
                "1. Docker API calls per `true` run job (counted in the bench's process)",
                f"{count:g}",
                f"{raw_count:g}",
                times(count, raw_count),
            ),
        )
        self.drain_errors += found.drain_errors
        self.report.sections.append(sections.time_split(found, "`true`"))
        self.report.sections.append(sections.call_table(found, "`true`"))
        p50 = percentile(found.runner, 50)
        self.headline[1] = f"latency p50 {ms(p50)} (raw {ms(floor)}, {times(p50, floor)})"
        self.target(
            1,
            "end-to-end p50 latency",
            f"{p50 / floor:.3f}x raw",
            p50 <= 1.15 * floor,
            "at most 1.15x",
        )
        self.say(self.headline[1])

    def files(self) -> None:
        """5. runs that send many files and get 16 created files back, against raw."""
        plan = self.plan
        files = sent_files(plan.files_sent, plan.file_bytes)
        shape = latency.Shape(
            self.katas.solo,
            "tiger",
            SHELL,
            files=files,
            deleted=CREATED,
            created=len(CREATED),
            raw_files=sandbox_tar(files, "tiger"),
            raw_out="out",
        )
        found = latency.measure(self.api, self.raw, self.in_process, shape, plan.files_runs)
        runner, floor = percentile(found.runner, 50), percentile(found.raw, 50)
        drained = percentile(found.in_process, 50)
        size = f"{plan.files_sent} files of {plan.file_bytes // 1024} KiB in"
        self.add(
            5,
            Row(
                f"5. {size}, {len(CREATED)} created files out, {plan.files_runs} runs, p50",
                ms(runner),
                ms(floor),
                times(runner, floor),
            ),
            Row(
                "5. the same drained in the bench's process, p50",
                ms(drained),
                ms(floor),
                times(drained, floor),
            ),
        )
        self.drain_errors += found.drain_errors
        self.report.sections.append(sections.time_split(found, "files"))
        self.report.sections.append(sections.call_table(found, "files"))
        self.say(f"files: p50 {ms(runner)} (raw {ms(floor)})")

    def dojo(self) -> None:
        """6. a class presses "test" at once: on one kata, then spread over as many katas."""
        size = self.plan.dojo_size
        files = {"cyber-dojo.sh": SLEEPS}
        one = [(self.katas.dojo, avatar) for avatar in self.katas.dojo_avatars]
        spread = [(kata_id, "tiger") for kata_id in self.katas.spread[:size]]
        with self.sampler.phase("dojo"):
            on_one = dojo.press_together(self.stack.url, one, SHELL, files)
            on_many = dojo.press_together(self.stack.url, spread, SHELL, files)
        for what, lights in (
            (f"{size} avatars of one kata", on_one),
            (f"{size} avatars over {size} katas", on_many),
        ):
            self.add(
                6,
                Row(
                    f"6. dojo, `{SLEEPS}`, {what}: last light (first, median)",
                    f"{secs(lights[-1])} ({secs(lights[0])}, {secs(percentile(lights, 50))})",
                ),
            )
        self.headline[6] = (
            f"dojo last light {secs(on_one[-1])} on one kata, {secs(on_many[-1])} over {size} katas"
        )
        self.say(self.headline[6])

    def stress(self) -> None:
        """4. a `yes` flood (memory, disk) and a Python kata red then green."""
        with self.sampler.phase("`yes` flood") as peak:
            flooded = stress.flood(self.api, self.client, self.katas.solo, "panda")
        before, after = flooded.disk_before, flooded.disk_after
        red_green = stress.red_green(self.api, self.katas.python, "lion")
        self.add(
            4,
            Row(
                "4. `yes` flood, max_seconds=10: run time, colour, stdout truncated",
                f"{secs(flooded.seconds)}, {flooded.colour}, {flooded.stdout_truncated}",
            ),
            Row("4. worker peak RSS during the flood (PSS)", f"{mib(peak.rss)} ({mib(peak.pss)})"),
            Row(
                "4. docker disk (containers + volumes) before / after the flood",
                f"{mib(before)} / {mib(after)} ({(after - before) / 2**20:+.1f} MiB)",
            ),
            Row(
                "4. `pytest -q` red (the run's own duration)",
                f"{secs(red_green.red_s)} ({red_green.red_ms} ms)",
            ),
            Row(
                "4. `pytest -q` green (the run's own duration)",
                f"{secs(red_green.green_s)} ({red_green.green_ms} ms)",
            ),
        )
        self.say(
            f"flood {secs(flooded.seconds)}; pytest red {secs(red_green.red_s)}, "
            f"green {secs(red_green.green_s)}"
        )

    def submissions(self) -> None:
        """3. submissions with no worker consuming; then the queued jobs are flushed."""
        count = self.plan.submissions
        redis = self.stack.redis_client()
        try:
            found = submissions.measure(self.api, redis, self.targets, SHELL, count)
            redis.flushdb()
        finally:
            redis.close()
        p50, p99 = percentile(found.seconds, 50), percentile(found.seconds, 99)
        self.add(
            3,
            Row(
                f"3. submit a run, no worker, {count} sequential, p50 / p99",
                f"{ms(p50)} / {ms(p99)}",
            ),
            Row("3. Redis commands per accepted run", f"{found.commands_per_job:.1f}"),
        )
        self.report.sections.append(
            Section(
                "Redis commands per accepted run (`INFO commandstats`)",
                ("command", "per job"),
                [(name, f"{per:.2f}") for name, per in found.commands.items()],
            )
        )
        self.headline[3] = f"submit p50 {ms(p50)}"
        self.target(3, "API submit p50", ms(p50), p50 < 0.005, "under 5 ms")
        self.say(f"submit p50 {ms(p50)}, p99 {ms(p99)}, {found.commands_per_job:.1f} commands/job")

    def finish(self) -> Report:
        """The report, its rows in measurement order."""
        peak = self.sampler.overall
        self.add(
            4,
            Row(
                "4. worker peak RSS over the whole bench (PSS, processes)",
                f"{mib(peak.rss)} ({mib(peak.pss)}, {peak.processes})",
            ),
        )
        self.report.rows = [row for number in sorted(self.rows) for row in self.rows[number]]
        self.report.sections.append(
            Section(
                "Worker memory by phase (summed over its processes)",
                ("phase", "peak RSS", "peak PSS", "processes"),
                [
                    (name, mib(p.rss), mib(p.pss), str(p.processes))
                    for name, p in self.sampler.phases.items()
                ],
            )
        )
        self.report.facts["load average at end"] = load_average()
        logged = self.stack.logged_errors()
        self.report.rows.append(
            Row(
                "error lines the services logged / errors in-process drains raised",
                f"{len(logged)} / {len(self.drain_errors)}",
            )
        )
        if logged or self.drain_errors:
            self.report.sections.append(sections.errors(logged + self.drain_errors))
            self.headline[0] = f"{len(logged) + len(self.drain_errors)} errors"
        self.report.headline = "; ".join(self.headline[k] for k in sorted(self.headline)) + "."
        return self.report


def measure_all(stack: Stack, plan: Plan, say: Say) -> Report:
    """Every measurement, on a stack whose Redis and API are up."""
    client = plain_client()
    settings = stack.settings
    bench = Bench(
        stack=stack,
        plan=plan,
        say=say,
        client=client,
        raw=RawFloor(plain_client(), settings, SHELL),
        in_process=InProcess.connect(settings),
        sampler=Sampler(stack.worker_session),
        api=connect(stack.url),
        katas=Katas.plan(spread=plan.spread_katas, dojo_size=plan.dojo_size),
        report=Report(facts(client)),
    )
    bench.sampler.start()
    try:
        started = time.perf_counter()
        made = bench.katas.make(settings)
        say(f"made the katas: {made} operations in {secs(time.perf_counter() - started)}")
        for concurrency in plan.concurrencies:
            stack.start_worker(concurrency)
            bench.throughput(concurrency)
            if concurrency == DEFAULT_CONCURRENCY:
                bench.latency()
                bench.files()
                bench.dojo()
                bench.stress()
        stack.stop_worker()
        stack.stop_beat()  # its sweep messages would count as the API's Redis commands
        bench.submissions()
    finally:
        bench.sampler.stop()
        bench.api.close()
        client.close()
        bench.raw.client.close()
    return bench.finish()
