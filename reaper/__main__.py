"""`python -m reaper [--dry-run]`: one reaper pass by hand; --dry-run says what it would do."""

from __future__ import annotations

import argparse
import functools
import json
from datetime import UTC, datetime

from reaper.reaping import reap
from runner.logs import setup_logging
from runner.queueing import celery_app, send_drain
from runner.settings import Settings
from worker.pipeline import Context


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m reaper", description=__doc__)
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted and why; delete nothing"
    )
    args = parser.parse_args()
    settings = Settings()
    setup_logging(settings.log_level)
    ctx = Context.connect(settings, functools.partial(send_drain, celery_app(settings)))
    report = reap(ctx, datetime.now(UTC), dry_run=args.dry_run)
    for line in report.would_delete:
        print(f"would delete {line}")
    print(json.dumps(report.counts()))
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
