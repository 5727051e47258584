"""The main table of both modes, the targets judged, and the exec's own section."""

from __future__ import annotations

from collections.abc import Callable

from bench import sections
from bench.exec_cost import ExecCost
from bench.figures import Figures, Rate
from bench.latency import Latency
from bench.report import Report, Row, Section
from bench.stats import mib, ms, percentile, secs, times

Format = Callable[[float], str]


def compared(measure: str, kata: float, fresh: float, raw: tuple[float, float], fmt: Format) -> Row:
    """A row of a figure in both modes, against the raw floor measured with each."""
    return Row(
        measure,
        fmt(kata),
        fmt(fresh),
        f"{fmt(raw[0])} / {fmt(raw[1])}",
        times(kata, raw[0]),
        times(fresh, raw[1]),
        times(kata, fresh),
    )


def both(measure: str, kata: str, fresh: str) -> Row:
    """A row with no raw floor."""
    return Row(measure, kata, fresh)


def _rate(value: float) -> str:
    return f"{value:.2f} runs/s"


def _calls(value: float) -> str:
    return f"{value:g}"


class Table:
    """Builds a report's rows, targets and sections from both modes' figures."""

    def __init__(self, report: Report, kata: Figures, fresh: Figures) -> None:
        self.report, self.kata, self.fresh = report, kata, fresh
        self.headline: dict[float, str] = {}  # the key figures, for the history

    def target(self, order: float, what: str, found: str, met: bool, target: str) -> None:
        """One of the issues' targets, as measured in this run."""
        verdict = "met" if met else "NOT met"
        self.report.targets[order] = f"- {what}: {found} (target: {target}): {verdict}."

    def latency(self, kata: Latency, fresh: Latency, runs: int) -> list[Row]:
        """1. `true` runs one after another; their spans and calls as sections."""
        rows = [
            compared(
                f"1. latency, `true`, {runs} runs, p{p}",
                percentile(kata.runner, p),
                percentile(fresh.runner, p),
                (percentile(kata.raw, p), percentile(fresh.raw, p)),
                ms,
            )
            for p in (50, 95)
        ]
        rows.append(
            compared(
                "1. the same run drained in the bench's process (worker side), p50",
                percentile(kata.in_process, 50),
                percentile(fresh.in_process, 50),
                (percentile(kata.raw, 50), percentile(fresh.raw, 50)),
                ms,
            )
        )
        rows.append(
            compared(
                "1. Docker API calls per `true` run job (counted in the bench's process)",
                sections.calls_per_run(kata.calls),
                sections.calls_per_run(fresh.calls),
                (sections.calls_per_run(kata.raw_calls), sections.calls_per_run(fresh.raw_calls)),
                _calls,
            )
        )
        self.report.sections.append(sections.time_split(kata, fresh, "`true`"))
        self.report.sections.append(sections.call_table(kata, fresh, "`true`"))
        k, f = percentile(kata.runner, 50), percentile(fresh.runner, 50)
        k_raw, f_raw = percentile(kata.raw, 50), percentile(fresh.raw, 50)
        self.target(
            1.0,
            "kata: end-to-end p50 of a `true` run",
            f"{k / k_raw:.3f}x raw",
            k <= 0.10 * k_raw,
            "at most 0.10x",
        )
        self.target(
            1.1,
            "fresh: end-to-end p50 of a `true` run",
            f"{f / f_raw:.3f}x raw",
            f <= 1.15 * f_raw,
            "at most 1.15x",
        )
        self.headline[1] = (
            f"latency p50 kata {ms(k)} (raw {ms(k_raw)}, {times(k, k_raw)}), "
            f"fresh {ms(f)} (raw {ms(f_raw)}, {times(f, f_raw)})"
        )
        return rows

    def throughput(self, concurrency: int, plan_runs: int, katas: int) -> list[Row]:
        """2. runs per second and machine CPU per run at one concurrency, both modes."""
        k, f = self.kata.rates[concurrency], self.fresh.rates[concurrency]
        threads = f"{concurrency} thread{'s' if concurrency > 1 else ''}"
        rows = [
            compared(
                f"2. throughput, {plan_runs} runs over {katas} katas, concurrency "
                f"{concurrency} (raw: {threads})",
                k.runner,
                f.runner,
                (k.raw, f.raw),
                _rate,
            ),
            compared(
                f"2. machine CPU per run, concurrency {concurrency}",
                k.runner_cpu_s,
                f.runner_cpu_s,
                (k.raw_cpu_s, f.raw_cpu_s),
                lambda s: f"{s * 1000:.1f} ms",
            ),
        ]
        self.report.sections.append(
            sections.cpu_split(
                concurrency,
                k.runs,
                {"kata": (k.runner_cpu, k.raw_cpu), "fresh": (f.runner_cpu, f.raw_cpu)},
            )
        )
        order = 2 + concurrency / 10
        if concurrency == 2:
            self.target(
                order,
                "kata: throughput at concurrency 2",
                f"{k.runner / k.raw:.3f}x raw",
                k.runner >= 2.5 * k.raw,
                "at least 2.5x",
            )
            self.target(
                order + 0.01,
                "kata: machine CPU per run (throughput at concurrency 2)",
                f"{k.runner_cpu_s / k.raw_cpu_s:.3f}x raw",
                k.runner_cpu_s <= 0.10 * k.raw_cpu_s,
                "at most 0.10x",
            )
        self._fresh_rate(order + 0.02, concurrency, f)
        self.headline[order] = (
            f"{k.runner:.2f} / {f.runner:.2f} runs/s (kata / fresh) at concurrency {concurrency}"
        )
        return rows

    def _fresh_rate(self, order: float, concurrency: int, rate: Rate) -> None:
        self.target(
            order,
            f"fresh: throughput at concurrency {concurrency}",
            f"{rate.runner / rate.raw:.3f}x raw",
            rate.runner >= 0.9 * rate.raw,
            "at least 0.9x",
        )

    def files(self, kata: Latency, fresh: Latency, what: str) -> list[Row]:
        """5. runs with many files in and created files out."""
        rows = [
            compared(
                f"5. {what}, p50",
                percentile(kata.runner, 50),
                percentile(fresh.runner, 50),
                (percentile(kata.raw, 50), percentile(fresh.raw, 50)),
                ms,
            ),
            compared(
                "5. the same drained in the bench's process, p50",
                percentile(kata.in_process, 50),
                percentile(fresh.in_process, 50),
                (percentile(kata.raw, 50), percentile(fresh.raw, 50)),
                ms,
            ),
        ]
        k, k_raw = percentile(kata.runner, 50), percentile(kata.raw, 50)
        self.target(
            5.0,
            f"kata: {what}, p50",
            f"{k / k_raw:.3f}x raw",
            k <= 0.15 * k_raw,
            "at most 0.15x",
        )
        self.report.sections.append(sections.time_split(kata, fresh, "files"))
        self.report.sections.append(sections.call_table(kata, fresh, "files"))
        return rows

    def stress(self, rounds: int) -> list[Row]:
        """4. the flood, the worker's memory, the docker disk, and pytest red and green."""
        k, f = self.kata, self.fresh
        assert k.flood and f.flood and k.flood_peak and f.flood_peak
        assert k.red_green and f.red_green

        def flood_cell(figures: Figures) -> str:
            found = figures.flood
            assert found is not None
            return f"{secs(found.seconds)}, {found.colour}, {found.stdout_truncated}"

        def disk_cell(figures: Figures) -> str:
            found = figures.flood
            assert found is not None
            before, after = found.disk_before, found.disk_after
            return f"{mib(before)} / {mib(after)} ({(after - before) / 2**20:+.1f} MiB)"

        def peak_cell(figures: Figures) -> str:
            peak = figures.flood_peak
            assert peak is not None
            return f"{mib(peak.rss)} ({mib(peak.pss)})"

        rows = [
            both(
                "4. `yes` flood, max_seconds=10: run time, colour, stdout truncated",
                flood_cell(k),
                flood_cell(f),
            ),
            both("4. worker peak RSS during the flood (PSS)", peak_cell(k), peak_cell(f)),
            both(
                "4. docker disk (containers + volumes) before / after the flood",
                disk_cell(k),
                disk_cell(f),
            ),
        ]
        for colour in ("red", "green"):
            kata_s, fresh_s = (
                getattr(k.red_green, f"{colour}_s"),
                getattr(f.red_green, f"{colour}_s"),
            )
            kata_raw = getattr(k.red_green, f"raw_{colour}_s")
            fresh_raw = getattr(f.red_green, f"raw_{colour}_s")
            rows.append(
                compared(
                    f"4. `pytest -q` {colour}, {rounds} run{'s' if rounds > 1 else ''}, p50",
                    percentile(kata_s, 50),
                    percentile(fresh_s, 50),
                    (percentile(kata_raw, 50), percentile(fresh_raw, 50)),
                    ms,
                )
            )
            kata_ms = percentile(getattr(k.red_green, f"{colour}_ms"), 50)
            fresh_ms = percentile(getattr(f.red_green, f"{colour}_ms"), 50)
            rows.append(
                Row(
                    f"4. `pytest -q` {colour}: the run's own duration_ms, p50",
                    f"{kata_ms:.0f} ms",
                    f"{fresh_ms:.0f} ms",
                    kata_fresh=times(kata_ms, fresh_ms),
                )
            )
            if colour == "red":
                self.target(
                    4.0,
                    "kata: a `pytest -q` red run's own duration_ms, p50, against fresh",
                    f"{kata_ms / fresh_ms:.3f}x fresh" if fresh_ms else "no fresh figure",
                    kata_ms <= 1.1 * fresh_ms,
                    "at most 1.1x",
                )
        return rows

    def dojo(self) -> list[Row]:
        """6. each class: the last light (first, median), in both modes."""
        rows = []
        for group, kata in self.kata.dojo.items():
            fresh = self.fresh.dojo[group]
            rows.append(
                Row(
                    f"6. dojo, {group.label}: last light (first, median)",
                    _lights(kata),
                    _lights(fresh),
                    kata_fresh=times(kata[-1], fresh[-1]),
                )
            )
        assert self.kata.latency is not None
        raw_lifecycle = percentile(self.kata.latency.raw, 50)
        for group, lights in self.kata.dojo.items():
            if group.script != "true" or group.spread:
                continue
            k = lights[-1]
            self.target(
                6.0 + group.size / 1000,
                f"kata: the last light of {group.size} avatars of one kata pressing together, "
                f"each run `true`, against {group.size} raw lifecycles "
                f"({group.size} x {ms(raw_lifecycle)})",
                f"{k / (group.size * raw_lifecycle):.3f}x",
                k <= 0.12 * group.size * raw_lifecycle,
                "at most 0.12x",
            )
            self.headline[6] = (
                f"last light of {group.size} avatars of one kata, `true`: kata {secs(k)}, "
                f"fresh {secs(self.fresh.dojo[group][-1])}"
            )
        return rows


def _lights(lights: list[float]) -> str:
    return f"{secs(lights[-1])} ({secs(lights[0])}, {secs(percentile(lights, 50))})"


def exec_section(found: ExecCost, rounds: int) -> Section:
    """The exec against a process start, as measured."""

    def p50(values: list[float]) -> str:
        return ms(percentile(values, 50)) if values else "not measured (no runc state here)"

    rows = [
        (
            "the SDK's exec (the runner's way): create, start, the output to its end",
            p50(found.exec_total),
        ),
        ("... `POST /containers/{id}/exec` (create)", p50(found.exec_create)),
        ("... `POST /exec/{id}/start` (to the answer's headers)", p50(found.exec_start)),
        (
            "... the output stream to its end (the process starts, runs and ends)",
            p50(found.exec_stream),
        ),
        ("`runc exec` straight, started by the bench (no dockerd, no containerd)", p50(found.runc)),
        ("... of which the runc binary's own start (`runc --version`)", p50(found.runc_version)),
        (
            "a `true` run through the agent, as the runner asks it (an attach, the request, "
            "the helper and the run forked, the kill, the look, the answer)",
            p50(found.agent),
        ),
        (
            "... the agent's look alone (an attach, the request, its look, its answer)",
            p50(found.look),
        ),
        (
            f"`sh -c true` forked by a shell loop in the container (per process, of {found.forks})",
            ms(found.fork_s),
        ),
    ]
    return Section(
        f"Exec against a process start (`true` as an avatar, in a running kata-like container "
        f"of the shell image with the run limits; p50 of {rounds})",
        ("way", "p50"),
        rows,
    )
