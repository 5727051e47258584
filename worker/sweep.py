"""Sweeping stranded katas: orphaned jobs failed, waiting katas woken, a lost host's jobs
ended; the logic behind every worker's sweep."""

from __future__ import annotations

import logging
from collections.abc import Callable

from runner import metrics
from runner.clock import now_iso
from runner.mailbox import Mailbox

log = logging.getLogger(__name__)


def sweep(mailbox: Mailbox, wake: Callable[[str], None], live_s: float = 15.0) -> dict[str, int]:
    """Fails orphaned in-flight jobs and re-wakes katas whose queue waits with no holder;
    ends every job of a lost host's katas host_lost. A kata whose host has no live worker
    (heartbeat older than live_s) waits: it is either back soon or lost."""
    counts = {"examined": 0, "orphans": 0, "woken": 0, "host_lost": 0}
    ages = mailbox.hosts.ages()
    for kata_id in mailbox.active_katas():
        counts["examined"] += 1
        host = mailbox.hosts.kata_host(kata_id) if ages else None
        age = ages.get(host or "")
        if host is not None and age is not None and age > mailbox.hosts.lost_s:
            ended = mailbox.hosts.fail_lost(kata_id, host, now_iso())
            if ended > 0:
                log.warning("kata %s: %d job(s) ended: host %s is lost", kata_id, ended, host)
                metrics.ERRORS.labels("host_lost").inc(ended)
                counts["host_lost"] += ended
            continue
        if age is not None and age > live_s:
            continue
        lost = mailbox.fail_orphans(kata_id, now_iso())
        if lost > 0:
            log.warning("kata %s: %d job(s) of a lost worker failed", kata_id, lost)
            metrics.ERRORS.labels("worker_lost").inc(lost)
            counts["orphans"] += lost
        if lost > 0 or mailbox.needs_drain(kata_id):
            # Woken even with an empty queue after orphans: the drain removes their containers.
            wake(kata_id)
            counts["woken"] += 1
    return counts
