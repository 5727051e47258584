"""The whole bench on a started stack: the measurements in each mode, in an order that
restarts the worker least and measures the two modes minutes apart, gathered into a Report."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import cpu, dojo, exec_cost, latency, sections, stress, submissions, throughput
from bench.calls import InProcess
from bench.figures import DojoClass, Figures, Rate
from bench.katas import CREATED, QUICK, SHELL, SLEEPS, Katas, sent_files
from bench.machine import facts, load_average
from bench.plan import MODES, Plan
from bench.raw import RawFloor, sandbox_tar
from bench.report import Report, Row, Section
from bench.rss import Sampler
from bench.session import connect
from bench.stack import Stack
from bench.stats import mib, ms, percentile, secs
from bench.table import Table, exec_section
from client import RunnerClient
from sandbox.docker_engine import plain_client

Say = Callable[[str], None]
DEFAULT_CONCURRENCY = 2  # the worker's default: measurements 1, 4, 5 and 6 run with it


@dataclass
class Bench:
    """What the measurements share, and what each mode's found."""

    stack: Stack
    plan: Plan
    say: Say
    client: Any  # a plain docker SDK client
    raw: RawFloor
    in_process: dict[str, InProcess]  # by mode
    sampler: Sampler
    api: RunnerClient  # the measurements' own keep-alive session
    katas: Katas
    report: Report
    figures: dict[str, Figures] = field(default_factory=dict)
    rows: dict[int, list[Row]] = field(default_factory=dict)
    headline: dict[float, str] = field(default_factory=dict)
    drain_errors: list[str] = field(default_factory=list)
    exec_cost: exec_cost.ExecCost | None = None

    @property
    def targets(self) -> list[tuple[str, str]]:
        return [(kata_id, "lion") for kata_id in self.katas.spread[: self.plan.throughput_katas]]

    def add(self, number: int, *rows: Row) -> None:
        self.rows.setdefault(number, []).extend(rows)

    def of(self, mode: str) -> Figures:
        return self.figures.setdefault(mode, Figures(mode))

    def throughput(self, mode: str, concurrency: int) -> None:
        """2. runs per second at this worker concurrency, and raw at this parallelism.

        Each side runs in two halves, in the order runner, raw, raw, runner: a machine that
        gets busier or quieter meanwhile weighs on both sides alike.
        """
        plan, url = self.plan, self.stack.url
        throughput.warm_up(url, self.raw, self.targets, SHELL, concurrency)
        half = plan.throughput_runs // 2
        seconds = {"runner": 0.0, "raw": 0.0}
        used = {"runner": cpu.Spent(), "raw": cpu.Spent()}
        measure = {
            "runner": lambda: throughput.runner_rate(url, self.targets, half, SHELL),
            "raw": lambda: throughput.raw_rate(self.raw, self.targets, half, concurrency),
        }
        phase = f"{mode}: throughput, concurrency {concurrency}"
        for side in ("runner", "raw", "raw", "runner"):
            sampled = self.sampler.phase(phase) if side == "runner" else contextlib.nullcontext()
            with sampled:
                rate, spent = cpu.spent(measure[side])
            seconds[side] += half / rate
            used[side] += spent
        found = Rate(2 * half, seconds["runner"], seconds["raw"], used["runner"], used["raw"])
        self.of(mode).rates[concurrency] = found
        self.say(
            f"{mode}: throughput at {concurrency}: {found.runner:.2f} runs/s, raw "
            f"{found.raw:.2f}/s; machine CPU per run {ms(found.runner_cpu_s)}, raw "
            f"{ms(found.raw_cpu_s)}"
        )

    def latency(self, mode: str) -> None:
        """1. one `true` run after another, interleaved with the same run drained here and raw."""
        shape = latency.Shape(self.katas.solo, "lion", SHELL)
        with self.sampler.phase(f"{mode}: latency"):
            found = latency.measure(
                self.api, self.raw, self.in_process[mode], shape, self.plan.latency_runs
            )
        self.of(mode).latency = found
        self.drain_errors += found.drain_errors
        p50, floor = percentile(found.runner, 50), percentile(found.raw, 50)
        self.say(f"{mode}: latency p50 {ms(p50)} (raw {ms(floor)})")

    def files(self, mode: str) -> None:
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
        found = latency.measure(self.api, self.raw, self.in_process[mode], shape, plan.files_runs)
        self.of(mode).files = found
        self.drain_errors += found.drain_errors
        p50, floor = percentile(found.runner, 50), percentile(found.raw, 50)
        self.say(f"{mode}: files p50 {ms(p50)} (raw {ms(floor)})")

    def dojo(self, mode: str) -> None:
        """6. a class presses "test" at once: on one kata, then spread over as many katas."""
        groups = [DojoClass(SLEEPS, size, spread=False) for size in self.plan.dojo_sizes]
        groups += [DojoClass(QUICK, size, spread=False) for size in self.plan.dojo_sizes]
        groups += [DojoClass(SLEEPS, size, spread=True) for size in self.plan.dojo_sizes]
        with self.sampler.phase(f"{mode}: dojo"):
            for group in groups:
                if group.spread:
                    targets = [(kata_id, "tiger") for kata_id in self.katas.spread[: group.size]]
                else:
                    targets = [(self.katas.dojo, a) for a in self.katas.dojo_avatars[: group.size]]
                files = {"cyber-dojo.sh": group.script}
                lights = dojo.press_together(self.stack.url, targets, SHELL, files)
                self.of(mode).dojo[group] = lights
                self.say(f"{mode}: dojo, {group.label}: last light {secs(lights[-1])}")

    def stress(self, mode: str) -> None:
        """4. a `yes` flood (memory, disk) and a Python kata red then green, against raw."""
        figures = self.of(mode)
        with self.sampler.phase(f"{mode}: `yes` flood") as peak:
            figures.flood = stress.flood(self.api, self.client, self.katas.solo, "panda")
        figures.flood_peak = peak
        figures.red_green = stress.red_green(
            self.api, self.raw, self.katas.python, "lion", self.plan.red_green_rounds
        )
        red, green = figures.red_green.red_s, figures.red_green.green_s
        self.say(
            f"{mode}: flood {secs(figures.flood.seconds)}; pytest red p50 "
            f"{secs(percentile(red, 50))}, green {secs(percentile(green, 50))}"
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
                f"3. submit a run, no worker (either mode), {count} sequential, p50 / p99",
                f"{ms(p50)} / {ms(p99)}",
            ),
            Row(
                "3. Redis commands per accepted run (either mode)", f"{found.commands_per_job:.1f}"
            ),
        )
        self.report.sections.append(
            Section(
                "Redis commands per accepted run (`INFO commandstats`)",
                ("command", "per job"),
                [(name, f"{per:.2f}") for name, per in found.commands.items()],
            )
        )
        self.headline[3] = f"submit p50 {ms(p50)}"
        verdict = "met" if p50 < 0.005 else "NOT met"
        self.report.targets[3] = f"- API submit p50: {ms(p50)} (target: under 5 ms): {verdict}."
        self.say(f"submit p50 {ms(p50)}, p99 {ms(p99)}, {found.commands_per_job:.1f} commands/job")

    def exec_against_fork(self) -> None:
        """The exec's own cost against a process start, with no worker running."""
        plan = self.plan
        self.exec_cost = exec_cost.measure(
            self.client,
            self.stack.settings,
            SHELL,
            self.katas.solo,
            "lion",
            plan.exec_rounds,
            plan.forks,
        )
        found = self.exec_cost
        self.say(
            f"exec p50 {ms(percentile(found.exec_total, 50))}, agent "
            f"{ms(percentile(found.agent, 50))}, look {ms(percentile(found.look, 50))}, "
            f"a process {ms(found.fork_s)}"
        )

    def kata_containers(self) -> Row:
        """How the worker's runs in kata mode found their container, from /metrics."""
        text = self.api.metrics()

        def counts(name: str, label: str) -> dict[str, int]:
            pattern = rf'^{name}{{{label}="([^"]+)"}} ([0-9.e+]+)$'
            return {m[1]: int(float(m[2])) for m in re.finditer(pattern, text, re.MULTILINE)}

        runs = counts("runner_kata_container_runs_total", "container")
        removed = counts("runner_kata_containers_removed_total", "reason")
        gone = ", ".join(f"{reason} {n}" for reason, n in sorted(removed.items())) or "none"
        return Row(
            "7. kata mode, the worker's runs over the whole bench: in a new container / a "
            "reused one; containers removed, by reason",
            f"{runs.get('new', 0)} / {runs.get('reused', 0)}; {gone}",
        )

    def finish(self) -> Report:
        """The report: the table of both modes, the sections, the targets judged."""
        kata, fresh, plan = self.figures["kata"], self.figures["fresh"], self.plan
        table = Table(self.report, kata, fresh)
        assert kata.latency and fresh.latency and kata.files and fresh.files
        self.add(1, *table.latency(kata.latency, fresh.latency, plan.latency_runs))
        for concurrency in plan.concurrencies:
            self.add(2, *table.throughput(concurrency, plan.throughput_runs, plan.throughput_katas))
        size = f"{plan.files_sent} files of {plan.file_bytes // 1024} KiB in"
        what = f"{size}, {len(CREATED)} created files out, {plan.files_runs} runs"
        self.add(5, *table.files(kata.files, fresh.files, what))
        self.add(4, *table.stress(plan.red_green_rounds))
        self.add(6, *table.dojo())
        self.headline.update(table.headline)
        peaks = {
            mode: max(
                (p for name, p in self.sampler.phases.items() if name.startswith(f"{mode}:")),
                key=lambda p: p.rss,
            )
            for mode in MODES
        }
        self.add(
            4,
            Row(
                "4. worker peak RSS over the whole bench (PSS, processes)",
                *(f"{mib(p.rss)} ({mib(p.pss)}, {p.processes})" for p in peaks.values()),
            ),
        )
        self.report.rows = [row for number in sorted(self.rows) for row in self.rows[number]]
        if self.exec_cost is not None:
            self.report.sections.append(exec_section(self.exec_cost, plan.exec_rounds))
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
    """Every measurement in each mode, on a stack whose Redis and API are up."""
    client = plain_client()
    settings = stack.settings
    bench = Bench(
        stack=stack,
        plan=plan,
        say=say,
        client=client,
        raw=RawFloor(plain_client(), settings, SHELL),
        in_process={mode: InProcess.connect(stack.settings_for(mode)) for mode in MODES},
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
            for mode in MODES:
                stack.start_worker(concurrency, mode)
                bench.throughput(mode, concurrency)
                if concurrency == DEFAULT_CONCURRENCY:
                    bench.latency(mode)
                    bench.files(mode)
                    bench.stress(mode)
                    # Last: a class over more katas than the host keeps live containers for
                    # evicts some, whose next runs would start new ones.
                    bench.dojo(mode)
        bench.add(7, bench.kata_containers())
        stack.stop_worker()
        stack.stop_beat()  # its sweep messages would count as the API's Redis commands
        bench.submissions()
        bench.exec_against_fork()
    finally:
        bench.sampler.stop()
        bench.api.close()
        client.close()
        bench.raw.client.close()
    return bench.finish()
