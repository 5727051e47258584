"""`python -m reaper [--dry-run]`: one reaper pass by hand; --dry-run says what it would do."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from reaper.context import Context
from reaper.reaping import reap
from runner.logs import setup_logging
from runner.queueing import celery_app, waker
from runner.settings import Settings
from runner.store import connect_redis


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m reaper", description=__doc__)
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted and why; delete nothing"
    )
    args = parser.parse_args()
    settings = Settings()
    setup_logging(settings.log_level)
    wake = waker(celery_app(settings), connect_redis(settings.redis_url), settings.host_name)
    ctx = Context.connect(settings, wake)
    report = reap(ctx, datetime.now(UTC), dry_run=args.dry_run)
    for line in report.would_delete:
        print(f"would delete {line}")
    print(json.dumps(report.counts()))
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
