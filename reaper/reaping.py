"""One pass of the reaper: index unknown volumes, delete expired katas, remove leaked containers.

Safe to run twice at once: a kata is deleted only under its lease, deleting is idempotent, and
an error on one kata or container does not stop the others.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from reaper.context import Context
from reaper.expiry import decide
from reaper.index import KataIndex, rebuild, runner_volumes
from runner import metrics
from runner.models import Job, OldKata
from sandbox import disk, operations
from sandbox.host import JOB_LABEL, KATA_LABEL, ROLE_LABEL
from sandbox.kata_containers import LIVE_ROLE
from sandbox.ruby_judge import JUDGE_ROLE

log = logging.getLogger(__name__)

LONGEST_RUN_S = 20


@dataclass
class Report:
    """What one pass did, counted; and in a dry run, what it would delete and why."""

    examined: int = 0
    deleted: int = 0
    skipped_busy: int = 0
    errors: int = 0
    indexed: int = 0
    containers_removed: int = 0
    stale_removed: int = 0
    would_delete: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, int)}


def reap(ctx: Context, now: datetime, *, dry_run: bool = False) -> Report:
    """One pass of the reaper at time `now`."""
    settings = ctx.host.settings
    index = KataIndex(ctx.mailbox.redis, ctx.mailbox.host_name)
    report = Report()
    try:
        attach = functools.partial(attach_disk, ctx, report)
        report.indexed = rebuild(ctx.host, index, now, dry_run=dry_run, attach=attach)
    except Exception:
        report.errors += 1
        log.exception("reaper: rebuilding the index failed")
    try:
        remove_stale_volumes(ctx, report, dry_run)
    except Exception:
        report.errors += 1
        log.exception("reaper: removing stale volumes failed")
    ttl = timedelta(seconds=settings.volume_ttl_s)
    for kata_id in index.candidates(now - ttl):
        if ctx.mailbox.hosts.kata_host(kata_id) not in (None, ctx.mailbox.host_name):
            continue  # its own host's reaper decides
        report.examined += 1
        try:
            reap_kata(ctx, index, kata_id, now, ttl, report, dry_run)
        except Exception:
            report.errors += 1
            log.exception("reaper: kata %s failed", kata_id)
    remove_leaked_containers(ctx, now, report, dry_run)
    log.info("reaper%s: %s", " (dry run)" if dry_run else "", report.counts())
    return report


def reap_kata(
    ctx: Context,
    index: KataIndex,
    kata_id: str,
    now: datetime,
    ttl: timedelta,
    report: Report,
    dry_run: bool,
) -> None:
    """Deletes one candidate kata if it has expired and is not busy."""
    records = index.records(kata_id)
    decision = decide(records, now, ttl)
    if not decision.expired:
        if decision.latest is not None and not dry_run:
            index.touch(kata_id, records, decision.latest)  # the index was behind the record
        return
    if dry_run:
        report.would_delete.append(f"{kata_id}: {decision.reason}")
        return
    lease = ctx.mailbox.acquire(kata_id, "reaper")
    if lease is None:
        report.skipped_busy += 1
        log.info("reaper: kata %s is busy (lease held): skipped", kata_id)
        return
    try:
        if ctx.mailbox.is_busy(kata_id):
            report.skipped_busy += 1
            log.info("reaper: kata %s has jobs queued: skipped", kata_id)
            return
        # Decided again under the lease: a job that ended since the first look moved the
        # kata's time, and no job can end now until the lease is let go.
        records = index.records(kata_id)
        decision = decide(records, now, ttl)
        if not decision.expired:
            log.info("reaper: kata %s was touched meanwhile: kept", kata_id)
            return
        operations.old_kata(ctx.host, ctx.images, Job(kata_id, OldKata()))
        if ctx.live is not None:
            ctx.live.dropped(kata_id)
        index.forget(kata_id)
        metrics.VOLUMES_REAPED.inc()
        report.deleted += 1
        log.warning(
            "reaper: deleted kata %s (hello_at %s, run_at %s): %s",
            kata_id,
            records.hello_at,
            records.run_at,
            decision.reason,
        )
    finally:
        if ctx.mailbox.release(lease):
            ctx.wake(kata_id)  # a job came while we held the lease: it now finds no kata


def remove_stale_volumes(ctx: Context, report: Report, dry_run: bool) -> None:
    """Removes this host's volumes of katas placed on another host meanwhile (this one was
    lost): no job of theirs runs here again, and their new host has volumes of its own."""
    katas = sorted(runner_volumes(ctx.host))
    for kata_id, placed in zip(katas, ctx.mailbox.hosts.kata_hosts(katas), strict=True):
        if placed is None or placed == ctx.mailbox.host_name:
            continue
        log.warning(
            "reaper: %s the stale volume of kata %s (placed on host %s)",
            "would remove" if dry_run else "removing",
            kata_id,
            placed,
        )
        if dry_run:
            report.would_delete.append(f"{kata_id}: stale, placed on host {placed}")
            continue
        operations.old_kata(ctx.host, ctx.images, Job(kata_id, OldKata()))
        if ctx.live is not None:
            ctx.live.forget(kata_id)
        report.stale_removed += 1


def attach_disk(ctx: Context, report: Report, kata_id: str) -> None:
    """Attaches again, under the kata's lease, the disk of a kata whose volume would not mount
    (a reboot), so that the next pass reads its times; a held lease: its job attaches it."""
    lease = ctx.mailbox.acquire(kata_id, "reaper")
    if lease is None:
        return
    try:
        disk.attach(ctx.host, kata_id)
    except Exception:
        report.errors += 1
        log.exception("reaper: attaching the disk of kata %s failed", kata_id)
    finally:
        if ctx.mailbox.release(lease):
            ctx.wake(kata_id)


def remove_leaked_containers(ctx: Context, now: datetime, report: Report, dry_run: bool) -> None:
    """Removes runner containers older than the longest run plus a grace, whose job is not
    running (their worker crashed, or the host was killed)."""
    settings = ctx.host.settings
    max_age_s = (
        LONGEST_RUN_S
        + settings.kill_grace_s
        + settings.bookkeeping_s
        + settings.reap_container_grace_s
    )
    for container in ctx.host.engine.containers(ctx.host.ours()):
        if container.labels.get(ROLE_LABEL) == JUDGE_ROLE:
            continue  # a worker's Ruby judge serves it for long, and ends itself when idle
        age_s = now.timestamp() - container.created
        job_id = container.labels.get(JOB_LABEL, "")
        kata_id = container.labels.get(KATA_LABEL, "")
        if age_s < max_age_s or ctx.mailbox.is_running(job_id, kata_id):
            continue
        live = ctx.live if container.labels.get(ROLE_LABEL) == LIVE_ROLE else None
        # A kata's live container is in use while it serves runs (the workers' sweep removes
        # it when idle); one left unused for twice that is removed under the kata's lease.
        if live is not None and live.is_live(kata_id, 2 * settings.kata_idle_s, now.timestamp()):
            continue
        log.warning(
            "reaper: %s leaked container %s (kata %s, job %s, %.0f s old)",
            "would remove" if dry_run else "removing",
            container.id[:12],
            kata_id,
            job_id,
            age_s,
        )
        if dry_run:
            continue
        try:
            if live is not None:
                report.containers_removed += live.remove_free(kata_id, "lost")
                continue
            ctx.host.engine.remove_container(container.id)
            report.containers_removed += 1
        except Exception:
            report.errors += 1
            log.exception("reaper: removing container %s failed", container.id[:12])
