"""The kata index in Redis (a sorted set by latest time) and its rebuilding from volumes."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, cast

import redis

from reaper.expiry import Records, decide
from runner import keys
from runner.errors import VolumeNotMountable
from sandbox.engine import ContainerSpec, Volume
from sandbox.host import KATA_LABEL, ROLE_LABEL, Host
from sandbox.limits import run_limits

log = logging.getLogger(__name__)

# Prints, for each volume mounted under /v: its number, NUL, hello_at, NUL, run_at, NUL.
# .runner is root's: no learner can plant a link in it; the reader runs as nobody, read-only.
READ_TIMES = r"""
for d in /v/*; do
  printf '%s\0' "${d#/v/}"
  cat "$d/.runner/hello_at" 2>/dev/null; printf '\0'
  cat "$d/.runner/run_at" 2>/dev/null; printf '\0'
done
"""
NOBODY = "65534:65534"


class KataIndex:
    """katas:seen and the kata records, as the reaper reads and writes them."""

    def __init__(self, client: redis.Redis, host_name: str | None = None) -> None:
        self.redis = client
        self.host_name = host_name  # the host whose volumes are indexed: a kata's own

    def candidates(self, cutoff: datetime) -> list[str]:
        """Katas whose indexed time is at or before cutoff, oldest first."""
        found = self.redis.zrangebyscore(keys.SEEN, "-inf", cutoff.timestamp())
        return [k.decode() for k in found if isinstance(k, bytes)]

    def known(self, kata_ids: list[str]) -> set[str]:
        """Those of kata_ids that the index holds."""
        pipe = self.redis.pipeline(transaction=False)
        for kata_id in kata_ids:
            pipe.zscore(keys.SEEN, kata_id)
        return {k for k, score in zip(kata_ids, pipe.execute(), strict=True) if score is not None}

    def records(self, kata_id: str) -> Records:
        """The kata's hello and run times as recorded in Redis."""
        hello, run = self.redis.hmget(keys.kata(kata_id), ["hello_at", "run_at"])
        return Records(_text(hello), _text(run))

    def touch(self, kata_id: str, records: Records, when: datetime) -> None:
        """Records the kata's times and indexes it at `when` (never moving it back)."""
        fields = {
            k: v for k, v in (("hello_at", records.hello_at), ("run_at", records.run_at)) if v
        }
        pipe = self.redis.pipeline(transaction=True)
        if fields:
            pipe.hset(keys.kata(kata_id), mapping=cast(Any, fields))
        if self.host_name is not None:
            pipe.hsetnx(keys.kata(kata_id), "host", self.host_name)
        pipe.zadd(keys.SEEN, {kata_id: when.timestamp()}, gt=True)
        placed = pipe.execute()
        if self.host_name is not None and placed[-2]:
            # A volume found with no record: its kata is placed where the volume is.
            self.redis.zincrby(keys.HOSTS_KATAS, 1, self.host_name)

    def forget(self, kata_id: str) -> None:
        """Drops the kata's index entry and record."""
        host = self.redis.hget(keys.kata(kata_id), "host")
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(keys.SEEN, kata_id)
        pipe.delete(keys.kata(kata_id))
        if isinstance(host, bytes):
            pipe.zincrby(keys.HOSTS_KATAS, -1, host)
        pipe.execute()


def _text(value: object) -> str | None:
    return value.decode().strip() if isinstance(value, bytes) and value.strip() else None


def runner_volumes(host: Host) -> dict[str, Volume]:
    """This runner instance's kata volumes, by kata id."""
    return {
        v.labels[KATA_LABEL]: v
        for v in host.engine.volumes(host.ours())
        if v.labels.get(KATA_LABEL)
    }


def read_times(
    host: Host, volumes: Iterable[Volume], unmountable: list[Volume] | None = None
) -> dict[str, Records]:
    """The times recorded in each volume's .runner, read by one container for all of them;
    a volume whose disk is not attached (a reboot) is left out, and added to unmountable."""
    volumes = list(volumes)
    while volumes:
        try:
            outcome = host.engine.run_container(_reader(host, volumes), b"", 120, 64 * 1024 * 1024)
            break
        except VolumeNotMountable as error:
            left_out = [v for v in volumes if v.name == error.volume]
            if not left_out:
                raise
            log.warning("volume %s would not mount: its times are not read", error.volume)
            volumes = [v for v in volumes if v.name != error.volume]
            if unmountable is not None:
                unmountable += left_out
    if not volumes:
        return {}
    fields = outcome.stdout.split(b"\0")
    times: dict[str, Records] = {}
    for at in range(0, len(fields) - 3, 3):
        volume = volumes[int(fields[at])]
        times[volume.labels[KATA_LABEL]] = Records(
            _text(fields[at + 1]), _text(fields[at + 2]), volume.created_at
        )
    for volume in volumes:
        found = times.get(volume.labels[KATA_LABEL])
        if found is None or (found.hello_at is None and found.run_at is None):
            # Removed since the listing: the engine made it again, empty, for the reader.
            host.remove_unmade_volume(volume.name)
    return times


def _reader(host: Host, volumes: list[Volume]) -> ContainerSpec:
    """The container that reads the times of these volumes, as nobody, read-only."""
    return ContainerSpec(
        image=host.settings.helper_image,
        command=["sh", "-c", READ_TIMES],
        user=NOBODY,
        name=f"{host.settings.instance}-reaper-{secrets.token_hex(4)}",
        labels={**host.ours(), ROLE_LABEL: "reaper"},
        binds={v.name: {"bind": f"/v/{i}", "mode": "ro"} for i, v in enumerate(volumes)},
        limits=run_limits(host.settings),
    )


def rebuild(
    host: Host,
    index: KataIndex,
    now: datetime,
    *,
    dry_run: bool = False,
    attach: Callable[[str], None] | None = None,
) -> int:
    """Indexes every volume of this runner that the index does not know; returns how many.

    A kata whose disk is not attached is given to attach (by id), to be read on the next pass.
    """
    volumes = runner_volumes(host)
    unknown = sorted(set(volumes) - index.known(sorted(volumes)))
    rebuilt = 0
    batch = host.settings.reap_read_batch
    for start in range(0, len(unknown), batch):
        chunk = unknown[start : start + batch]
        unmountable: list[Volume] = []
        for kata_id, records in read_times(host, [volumes[k] for k in chunk], unmountable).items():
            latest = decide(records, now, timedelta.max).latest
            if latest is None:
                log.warning("kata %s: its volume has no readable time; not indexed", kata_id)
                continue
            log.info("kata %s: indexed from its volume at %s", kata_id, latest.isoformat())
            if not dry_run:
                index.touch(kata_id, records, latest)
            rebuilt += 1
        for volume in unmountable:
            if attach is not None and not dry_run:
                attach(volume.labels[KATA_LABEL])
    return rebuilt
