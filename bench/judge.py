"""`python -m bench.judge`: what a traffic light costs each way. A lambda the translator
translates costs its translation once per text, then its rules per run; one it cannot is a
judgement of the worker's Ruby judge per run (an attach to its container, the request, a child
forked to evaluate the lambda, the answer), and the judge's container once per worker process.
Prints the median and the 90th percentile of each, on this machine's engine (not part of
`make bench`).
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from bench.stats import percentile
from runner.settings import Settings
from sandbox.host import Host
from sandbox.ruby_judge import RubyJudge
from traffic_lights.lambdas import translate

TRANSLATED = """lambda { |stdout, stderr, status|
  output = stdout + stderr
  return :amber if /\\d+ errors? /.match(output)
  return :red if /\\d+ failed/.match(output)
  return :green if /\\d+ passed/.match(output)
  :amber
}"""
# A lambda of the same size beyond the translator (===): the judge's.
JUDGED = """lambda { |stdout, stderr, status|
  output = stdout + stderr
  return :amber if /\\d+ errors? /.match(output)
  return :red if /\\d+ failed/.match(output)
  return :green if status === 0
  :amber
}"""
PYTEST_RED = "F.\n" + "E   assert 54 == 42\n" * 20 + "1 failed, 1 passed in 0.03s\n"
FULL_OUTPUT = ("x" * 99 + "\n") * 512  # 50 KiB: the most of stdout a run hands back
# The engine's processes, as /proc names them (at most 15 characters), and the judge's Ruby.
ENGINE = ("dockerd", "containerd", "containerd-shim")
RUBY = ("ruby",)


def spans(rounds: int, call: Callable[[int], object]) -> list[float]:
    """Seconds of each of rounds calls, after two that warm up."""
    found = []
    for round_ in range(rounds + 2):
        started = time.perf_counter()
        call(round_)
        if round_ >= 2:
            found.append(time.perf_counter() - started)
    return found


def duration(seconds: float) -> str:
    """Milliseconds, or microseconds below one."""
    return f"{seconds * 1e6:.0f} us" if seconds < 1e-3 else f"{seconds * 1e3:.1f} ms"


def line(what: str, seconds: list[float]) -> None:
    p50, p90 = duration(percentile(seconds, 50)), duration(percentile(seconds, 90))
    print(f"{what:<58} p50 {p50:>9}   p90 {p90:>9}")


def cpu_ticks(names: tuple[str, ...]) -> dict[int, int]:
    """The CPU the processes of these names on this machine have used so far, by pid, with
    their children's that they waited for (the judge's lambdas, the engine's runc)."""
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        if comm in names:
            fields = rest.split()
            ticks[int(stat.parent.name)] = sum(int(f) for f in fields[11:15])  # u, s, cu, cs
    return ticks


def cpu_s(before: dict[int, int], after: dict[int, int]) -> float:
    """Seconds of CPU used between two looks, by the processes in both."""
    used = sum(after[pid] - before[pid] for pid in before.keys() & after.keys())
    return used / os.sysconf("SC_CLK_TCK")


def cpu_per_call(rounds: int, call: Callable[[int], object]) -> tuple[float, float, float]:
    """Seconds of CPU per call of this process, of the engine's processes and of Ruby's (all
    of this machine's: meaningful when the engine is here and otherwise idle)."""
    worker, engine, ruby = time.process_time(), cpu_ticks(ENGINE), cpu_ticks(RUBY)
    for round_ in range(rounds):
        call(round_)
    worker = time.process_time() - worker
    engine_s, ruby_s = cpu_s(engine, cpu_ticks(ENGINE)), cpu_s(ruby, cpu_ticks(RUBY))
    return worker / rounds, engine_s / rounds, ruby_s / rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.judge", description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args(argv).rounds
    rules = translate(TRANSLATED)
    # A new text each time (a comment differs), so that no translation is remembered.
    line(
        "translation of a lambda (once per text)",
        spans(rounds, lambda i: translate(f"{TRANSLATED}\n# {i}")),
    )
    line("its rules, per run", spans(rounds, lambda i: rules.colour(PYTEST_RED, "", 1)))
    line(
        "its rules, per run of 50 KiB of stdout",
        spans(rounds, lambda i: rules.colour(FULL_OUTPUT, "", 1)),
    )
    settings = Settings(instance=f"bench{secrets.token_hex(3)}")
    judge = RubyJudge(Host.connect(settings), settings.judge_image)
    try:
        expected = ("red", None)
        if judge.verdict(JUDGED, PYTEST_RED, "", 1) != expected:
            raise SystemExit("the judge did not judge the lambda red")
        line(
            "a judgement of the Ruby judge, per run",
            spans(rounds, lambda i: judge.verdict(JUDGED, PYTEST_RED, "", 1)),
        )
        line(
            "a judgement of the Ruby judge, per run of 50 KiB of stdout",
            spans(rounds, lambda i: judge.verdict(JUDGED, FULL_OUTPUT, "", 1)),
        )

        def made(_: int) -> None:
            judge.close()
            judge.verdict(JUDGED, PYTEST_RED, "", 1)

        line("the judge's container made, and its first judgement", spans(10, made))
        worker, engine, ruby = cpu_per_call(
            rounds, lambda i: judge.verdict(JUDGED, PYTEST_RED, "", 1)
        )
        print(
            f"CPU of a judgement: the worker {duration(worker)}, the engine's processes "
            f"{duration(engine)}, the judge's Ruby {duration(ruby)}"
        )
    finally:
        judge.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
