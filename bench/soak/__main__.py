"""`python -m bench.soak --minutes N` (`make soak MINUTES=N`): a mixed hostile load with four
faults against a runner of its own; prints lost, wrong, out-of-order and leaked counts, and
exits 0 only when all are 0."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

from bench.soak.cyber_dojo import CyberDojoLoad
from bench.soak.load import Load, canary_baseline
from bench.soak.report import summary
from bench.soak.service import Leftovers, SoakService
from bench.soak.tally import CYBER_DOJO, Fault, Tally, tally

KATAS = 16  # half shell, half python
THREADS = 4
FAULTS = ("celery child", "API master", "Redis", "docker engine")
# After the load: long enough for a lost worker's job (lease TTL and sweep) and a full queue.
DRAIN_S = 180.0
DELETE_S = 120.0


def say(line: str) -> None:
    print(f"soak: {line}", file=sys.stderr, flush=True)


def _exit_on(signum: int, _frame: FrameType | None) -> None:
    say(f"stopped by signal {signum}: cleaning up")
    raise SystemExit(128 + signum)  # unwinds through the clean-up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="of load (default 10)")
    parser.add_argument("--keep-logs", action="store_true", help="also when it passes")
    args = parser.parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on)
    # The services get the default settings but their own (harness/services.py drops
    # RUNNER_*): so does the soak's own view of them.
    for name in [name for name in os.environ if name.startswith("RUNNER_")]:
        del os.environ[name]

    began = time.time()
    log_dir = Path(tempfile.mkdtemp(prefix="runner-soak-"))
    service = SoakService(log_dir)
    say(f"instance {service.instance}, logs in {log_dir}")
    outcome: Outcome | None = None
    leftovers: Leftovers | None = None
    stopping = threading.Event()
    try:
        outcome = soak(service, args.minutes * 60, stopping)
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
    except Exception:
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the clean-up runs to its end
        stopping.set()  # no further round or fault
        service.stop_worker()  # its processes remove their Ruby judges as they end
        if service.engine is not None:
            try:
                leftovers = service.leftovers()
            except Exception:
                traceback.print_exc()
        processes, orphans = service.stop()
    if outcome is None or leftovers is None:
        say(f"the soak did not run to its end; the services' logs are kept in {log_dir}")
        return 2
    print(summary(outcome.found, outcome.faults, leftovers, processes, orphans, outcome.started))
    leaked = leftovers.total() + len(processes)
    injected = [f for f in outcome.faults if not f.detail.startswith("FAILED")]
    passed = not outcome.found.problems() and not leaked and len(injected) == len(FAULTS)
    print(
        f"soak: {'PASS' if passed else 'FAIL'}: lost {len(outcome.found.lost)},"
        f" wrong {len(outcome.found.wrong)}, out of order {len(outcome.found.out_of_order)},"
        f" leaked {leaked}, faults injected {len(injected)} of {len(FAULTS)};"
        f" {(time.time() - began) / 60:.1f} min in all"
    )
    if passed and not args.keep_logs:
        shutil.rmtree(log_dir, ignore_errors=True)
        return 0
    say(f"the services' logs are kept in {log_dir}")
    return 1


@dataclass
class Outcome:
    """What a soak that ran to its end found."""

    found: Tally
    faults: list[Fault]
    started: float


def soak(service: SoakService, load_s: float, stopping: threading.Event) -> Outcome:
    """Starts the service, drives the load with the faults, drains it, deletes the katas and
    judges every job."""
    service.start()
    engine = service.engine.url if service.engine else ""
    say(f"the runner answers on {service.url}, its docker engine on {engine}")
    expected = canary_baseline(service.url)
    load = Load(service.url, KATAS, THREADS, stopping)
    cyber_dojo = CyberDojoLoad(service.url, stopping)
    cyber_dojo.baseline()
    assert cyber_dojo.canary is not None
    expected[CYBER_DOJO] = cyber_dojo.canary
    load.setup()
    made = sum(kata.made for kata in load.katas)
    say(f"{made} of {KATAS} katas made; the load runs {load_s / 60:g} min")
    started = time.time()
    faults: list[Fault] = []
    injector = threading.Thread(
        target=inject, args=(service, load, started, load_s, faults), daemon=True
    )
    injector.start()
    calls = threading.Thread(target=cyber_dojo.run, args=(started + load_s,), daemon=True)
    calls.start()
    load.run(started + load_s)
    injector.join()
    calls.join()
    say(f"the load ended: {len(load.accepted())} jobs accepted; draining")
    load.finish(time.time() + DRAIN_S)
    cyber_dojo.finish(time.time() + DRAIN_S)
    say("deleting every kata")
    load.delete(time.time() + DELETE_S)
    cyber_dojo.delete(time.time() + DELETE_S)
    sent = load.sent + cyber_dojo.sent
    with (service.log_dir / "jobs.jsonl").open("w") as jobs:  # to look into a problem
        jobs.writelines(json.dumps(asdict(one)) + "\n" for one in sent)
    return Outcome(tally(sent, expected, faults), faults, started)


def inject(
    service: SoakService, load: Load, started: float, load_s: float, faults: list[Fault]
) -> None:
    """Each fault once, evenly spread over the load."""
    kills: dict[str, Callable[[], str]] = {
        FAULTS[0]: lambda: service.kill_worker_child([k.kata_id for k in load.katas]),
        FAULTS[1]: service.kill_api,
        FAULTS[2]: service.kill_redis,
        FAULTS[3]: service.kill_engine,
    }
    for n, (name, kill) in enumerate(kills.items(), 1):
        if load.stopping.wait(max(0.0, started + load_s * n / (len(kills) + 1) - time.time())):
            return
        began = time.time()
        try:
            detail = f"SIGKILL {kill()}"
        except Exception as error:
            detail = f"FAILED: {error!r}"
        faults.append(Fault(name, began, time.time(), detail))
        say(f"fault {name}: {detail}")


if __name__ == "__main__":
    raise SystemExit(main())
