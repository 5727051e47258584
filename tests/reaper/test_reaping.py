"""The reaper against the real engine and Redis, with an injected clock."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

from harness.services import ROOT, RedisServer, runner_env
from reaper.context import Context
from reaper.expiry import Records
from reaper.index import KataIndex, read_times, runner_volumes
from reaper.reaping import reap
from runner import keys
from sandbox.host import Host
from tests.conftest import SHELL, new_kata_id, sdk
from tests.reaper.conftest import NOW
from tests.sandbox.conftest import Ops, detach_as_a_reboot_does

DAY = timedelta(days=1)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def kata_touched_at(ctx: Context, index: KataIndex, when: datetime) -> str:
    """A kata whose volume and index both say it was last touched at `when`."""
    kata_id = new_kata_id()
    Ops(ctx.host, ctx.images).new_kata(kata_id, SHELL, now=when)
    index.touch(kata_id, Records(hello_at=iso(when)), when)
    return kata_id


def volume_exists(host: Host, kata_id: str) -> bool:
    return host.engine.volume(host.volume_name(kata_id)) is not None


def test_expired_katas_are_deleted_and_recent_ones_kept(ctx: Context, index: KataIndex) -> None:
    old = kata_touched_at(ctx, index, NOW - 8 * DAY)
    recent = kata_touched_at(ctx, index, NOW - 6 * DAY)
    report = reap(ctx, NOW)
    assert (report.examined, report.deleted, report.errors) == (1, 1, 0)
    assert not volume_exists(ctx.host, old)
    assert volume_exists(ctx.host, recent)
    assert index.redis.zscore(keys.SEEN, old) is None
    assert index.records(old) == Records()
    assert index.records(recent).hello_at == iso(NOW - 6 * DAY)


def test_a_busy_kata_is_skipped(ctx: Context, index: KataIndex) -> None:
    leased = kata_touched_at(ctx, index, NOW - 8 * DAY)
    queued = kata_touched_at(ctx, index, NOW - 8 * DAY)
    lease = ctx.mailbox.acquire(leased, "a-worker")
    assert lease is not None
    index.redis.rpush(keys.queue(queued), "j_waitingwaitingwa")
    report = reap(ctx, NOW)
    assert (report.examined, report.skipped_busy, report.deleted) == (2, 2, 0)
    assert volume_exists(ctx.host, leased) and volume_exists(ctx.host, queued)
    assert ctx.mailbox.holder(leased) == lease.token
    ctx.mailbox.release(lease)
    index.redis.delete(keys.queue(queued))
    assert reap(ctx, NOW).deleted == 2


def test_the_index_is_rebuilt_from_the_volumes_after_redis_lost_it(
    ctx: Context, index: KataIndex
) -> None:
    kata_id = kata_touched_at(ctx, index, NOW - 3 * DAY)
    index.redis.flushdb()
    report = reap(ctx, NOW)
    assert (report.indexed, report.deleted) == (1, 0)
    assert index.redis.zscore(keys.SEEN, kata_id) == (NOW - 3 * DAY).timestamp()
    assert index.records(kata_id).hello_at == iso(NOW - 3 * DAY)
    assert reap(ctx, NOW + 5 * DAY).deleted == 1
    assert not volume_exists(ctx.host, kata_id)


def test_after_a_reboot_and_redis_lost_a_kata_is_indexed_once_its_disk_is_attached_again(
    ctx: Context, index: KataIndex
) -> None:
    detached = kata_touched_at(ctx, index, NOW - 3 * DAY)
    attached = kata_touched_at(ctx, index, NOW - 2 * DAY)
    index.redis.flushdb()
    detach_as_a_reboot_does(ctx.host, detached)
    first = reap(ctx, NOW)
    assert (first.indexed, first.errors) == (1, 0)
    assert index.records(attached).hello_at == iso(NOW - 2 * DAY)
    # The reader could not mount the detached kata's volume: the pass attached its disk.
    assert reap(ctx, NOW).indexed == 1
    assert index.records(detached).hello_at == iso(NOW - 3 * DAY)


def test_a_leaked_old_container_is_removed_and_a_running_job_kept(
    ctx: Context, index: KataIndex
) -> None:
    api = sdk(ctx.host).api
    kata_id = kata_touched_at(ctx, index, NOW)
    leaked = api.create_container(
        SHELL, ["true"], labels=ctx.host.labels(kata_id, "run", job_id="j_crashedcrashedc")
    )["Id"]
    running = api.create_container(
        SHELL, ["true"], labels=ctx.host.labels(kata_id, "run", job_id="j_runningrunningr")
    )["Id"]
    index.redis.hset(keys.job("j_runningrunningr"), "state", "running")
    lease = ctx.mailbox.acquire(kata_id, "a-worker")
    assert lease is not None
    try:
        young = reap(ctx, NOW)
        assert young.containers_removed == 0
        report = reap(ctx, NOW + timedelta(hours=1))
        assert report.containers_removed == 1
        assert [c.id for c in ctx.host.kata_containers(kata_id)] == [running]
        assert leaked not in [c.id for c in ctx.host.engine.containers(ctx.host.ours())]
        assert api.inspect_container(running)["Id"] == running
    finally:
        ctx.mailbox.release(lease)
        api.remove_container(running, force=True)
        Ops(ctx.host, ctx.images).old_kata(kata_id)


def test_a_dry_run_deletes_nothing(ctx: Context, index: KataIndex) -> None:
    api = sdk(ctx.host).api
    old = kata_touched_at(ctx, index, NOW - 8 * DAY)
    leaked = api.create_container(SHELL, ["true"], labels=ctx.host.labels(old, "run"))["Id"]
    seen_before = index.redis.zrange(keys.SEEN, 0, -1, withscores=True)
    report = reap(ctx, NOW + timedelta(hours=1), dry_run=True)
    assert report.deleted == 0 and report.containers_removed == 0
    assert len(report.would_delete) == 1 and report.would_delete[0].startswith(old)
    assert volume_exists(ctx.host, old)
    assert api.inspect_container(leaked)["Id"] == leaked
    assert index.redis.zrange(keys.SEEN, 0, -1, withscores=True) == seen_before
    Ops(ctx.host, ctx.images).old_kata(old)


def test_the_command_line_dry_run_says_what_it_would_delete_and_then_deletes(
    ctx: Context, index: KataIndex, api_redis: RedisServer
) -> None:
    kata_id = kata_touched_at(ctx, index, NOW - 8 * DAY)
    env = runner_env(
        {
            "RUNNER_INSTANCE": ctx.host.settings.instance,
            "RUNNER_REDIS_URL": api_redis.url,
            "RUNNER_LOG_LEVEL": "WARNING",
        }
    )

    def reaper(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "reaper", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    dry = reaper("--dry-run")
    assert f"would delete {kata_id}: last touched" in dry
    assert volume_exists(ctx.host, kata_id)
    real = reaper()
    assert json.loads(real.splitlines()[-1])["deleted"] == 1
    assert not volume_exists(ctx.host, kata_id)


def test_a_volume_removed_after_the_listing_is_not_left_made_again_by_the_reader(
    host: Host,
) -> None:
    kept, removed = new_kata_id(), new_kata_id()
    ops = Ops.of(host)
    for kata_id in (kept, removed):
        ops.new_kata(kata_id, SHELL)
    try:
        listed = runner_volumes(host)
        stale = [listed[kept], listed[removed]]
        ops.old_kata(removed)  # between the listing and the reading
        times = read_times(host, stale)
        assert times[kept].hello_at is not None
        assert not volume_exists(host, removed)  # the engine made it for the reader; gone again
    finally:
        ops.old_kata(kept)
