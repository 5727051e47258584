"""`python -m runner.hosts [list | drain NAME | undrain NAME]`: the docker hosts as Redis
knows them, and an operator's draining mark (no new kata is placed on a draining host)."""

from __future__ import annotations

import argparse
import json

from runner import status
from runner.jobs import presence_ttl_s
from runner.settings import HOST_NAME, Settings
from runner.store import connect_redis


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.hosts", description=__doc__)
    parser.add_argument("action", choices=("list", "drain", "undrain"), nargs="?", default="list")
    parser.add_argument("name", nargs="?", default="")
    args = parser.parse_args(argv)
    settings = Settings()
    client = connect_redis(settings.redis_url)
    if args.action != "list":
        if not HOST_NAME.fullmatch(args.name):
            parser.error("a host name is 1 to 32 of a-z, 0-9, - and _")
        status.drain_host(client, args.name, args.action == "drain")
    found = status.hosts(
        client, status.workers(client), live_s=presence_ttl_s(settings), lost_s=settings.host_lost_s
    )
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
