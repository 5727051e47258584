"""`python -m bench`: measure the runner against the raw floor, print, write RESULTS.md."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType

from bench import queue_wait, report
from bench.plan import FULL, QUICK
from bench.run import measure_all
from bench.stack import Stack, remove_docker_objects

INSTANCE = r"bench[0-9a-f]{6}"  # Stack's instance names: --remove touches nothing else


def say(line: str) -> None:
    print(f"bench: {line}", file=sys.stderr, flush=True)


def _exit_on(signum: int, _frame: FrameType | None) -> None:
    say(f"stopped by signal {signum}: cleaning up")
    raise SystemExit(128 + signum)  # unwinds through the clean-up


def main(argv: list[str] | None = None) -> int:
    """Runs the bench; 0 when every measurement ran and everything made was removed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few runs of each measurement; prints, writes no RESULTS.md",
    )
    parser.add_argument("--note", help="adds a History entry to RESULTS.md with this note")
    parser.add_argument(
        "--remove",
        metavar="INSTANCE",
        help="only removes the containers and volumes a failed bench left behind",
    )
    args = parser.parse_args(argv)
    if args.remove:
        if not re.fullmatch(INSTANCE, args.remove):
            parser.error(f"{args.remove!r} is not the instance of a bench (bench<6 hex digits>)")
        return 0 if remove(args.remove) else 1
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on)
    # The worker gets the default settings (harness/services.py drops RUNNER_*): so does the bench.
    for name in [name for name in os.environ if name.startswith("RUNNER_")]:
        del os.environ[name]

    started = time.perf_counter()
    log_dir = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    stack = Stack(log_dir)
    say(f"instance {stack.instance}")
    finished = False
    try:
        stack.start()
        found = measure_all(stack, QUICK if args.quick else FULL, say)
        load = queue_wait.QUICK_LOAD if args.quick else queue_wait.LOAD
        found.sections.append(queue_wait.on(stack, load, say))
        finished = True
    except Exception:
        traceback.print_exc()
    finally:
        stack.close()
        finished = remove(stack.instance) and finished
        if finished:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            say(f"the services' logs are kept in {log_dir}")
    if not finished:
        return 1
    found.wall_s = time.perf_counter() - started
    print(found.text())
    print("\n".join(found.targets[k] for k in sorted(found.targets)))
    say(f"wall time {found.wall_s / 60:.1f} min")
    if not args.quick:
        report.write(found, args.note)
        say(f"wrote {report.RESULTS.name}")
    return 0


def remove(instance: str) -> bool:
    """Removes the instance's containers and volumes, twice to be sure; False if it could not."""
    try:
        containers, volumes = remove_docker_objects(instance)
        say(f"removed {containers} container(s) and {volumes} volume(s) of {instance}")
        left = remove_docker_objects(instance)
    except Exception as error:
        say(
            f"the engine did not remove what {instance} made ({error}): when it answers again, "
            f"run `python -m bench --remove {instance}`"
        )
        return False
    if left != (0, 0):
        say(f"left behind, then removed: {left[0]} container(s), {left[1]} volume(s)")
    return True


if __name__ == "__main__":
    sys.exit(main())
