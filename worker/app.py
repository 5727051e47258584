"""The Celery worker: `celery -A worker.app worker` runs drains and reaps, and its main
process sweeps; `celery -A worker.app beat` schedules the reaper. Tasks are thin: they call
worker.drain, worker.sweep and reaper.reaping with this process's context."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

from celery.signals import (
    beat_init,
    setup_logging,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from reaper import context as reaper_context
from reaper import reaping
from runner import keys
from runner.clock import now_iso
from runner.jobs import presence_ttl_s
from runner.logs import setup_logging as setup_json_logging
from runner.mailbox import host_mailbox
from runner.queueing import DRAIN, REAP, REAP_ALL, Waker, celery_app, send_reap
from runner.settings import Settings
from runner.store import connect_redis
from sandbox import disk, images
from sandbox.host import Host
from sandbox.kata_containers import KataContainers
from worker import drain as draining
from worker.sweep import sweep

log = logging.getLogger(__name__)

settings = Settings()
app = celery_app(settings)


@setup_logging.connect
def _json_logs(**_: Any) -> None:
    """Celery's own logging set-up is replaced by the runner's JSON lines."""
    setup_json_logging(settings.log_level)


@functools.cache
def context() -> draining.Context:
    """This process's docker client and Redis mailbox, made on first use (after the fork)."""
    return draining.Context.connect(settings, wake)


@functools.cache
def _waker() -> Waker:
    return Waker(app, connect_redis(settings.redis_url), settings.host_name)


def wake(kata_id: str) -> None:
    """Sends a drain of the kata to its host's queues: a hint to whichever worker is free."""
    _waker().wake(kata_id)


@app.task(name=DRAIN, bind=True)
def drain(task: Any, kata_id: str, handed_back: bool = False) -> int:
    """Runs up to a batch of the kata's queued jobs, in order, if no other worker holds its
    lease; hands the kata back if it ran a whole batch and has more."""
    if not handed_back and _waker().is_handed_back(kata_id):
        return 0  # a wake-up sent before its hand-back: the continuation drains it
    # The lease names this worker, so that /workers can count the jobs each one runs.
    holder = f"{task.request.hostname or socket.gethostname()}:{os.getpid()}"
    more: list[str] = []  # the drain's wake-up as it let go: jobs are still queued
    ran = draining.drain(dataclasses.replace(context(), holder=holder, wake=more.append), kata_id)
    if more and ran >= settings.drain_batch:
        _waker().hand_back(kata_id)  # behind every kata still to start
    elif more:
        wake(kata_id)  # its queue ran dry, then a job came: it starts again, as any kata
    return ran


@app.task(name=REAP)
def reap() -> dict[str, int]:
    """Deletes this host's volumes of katas untouched for longer than the volume TTL."""
    ctx = context()
    reaper = reaper_context.Context(ctx.host, ctx.images, ctx.mailbox, ctx.wake, ctx.live)
    return reaping.reap(reaper, datetime.now(UTC)).counts()


@app.task(name=REAP_ALL)
def reap_all() -> list[str]:
    """Beat's reaper: a pass sent to every live host's queue; the hosts it was sent to."""
    ages = context().mailbox.hosts.ages()
    live = sorted(h for h, age in ages.items() if age <= presence_ttl_s(settings))
    for host_name in live:
        send_reap(app, host_name)
    return live


# Worker presence: the main process of each worker writes a key with a TTL while it lives,
# so that /readyz and /workers read who is consuming from live data.
_presence_stop = threading.Event()
_presence_threads: list[threading.Thread] = []


@worker_ready.connect
def _announce(sender: Any = None, **_: Any) -> None:
    name = getattr(sender, "hostname", None) or socket.gethostname()
    redis = connect_redis(settings.redis_url)
    mailbox = host_mailbox(settings)
    record = json.dumps(
        {
            "name": name,
            "host": socket.gethostname(),
            "host_name": settings.host_name,
            "pid": os.getpid(),
            "docker_host": settings.docker_host,
            "started_at": now_iso(),
        }
    )
    ttl_s = presence_ttl_s(settings)

    def beat() -> None:
        while True:
            try:
                redis.set(keys.worker(name), record, ex=ttl_s)
                mailbox.hosts.seen()
            except Exception as error:
                log.warning("worker presence: redis did not answer: %s", error)
            if _presence_stop.wait(settings.worker_heartbeat_s):
                break
        try:
            redis.delete(keys.worker(name))
        except Exception as error:  # Redis stopping with the rest: the key's TTL ends it
            log.info("worker presence: not withdrawn: %s", error)

    for target, thread_name in ((beat, "presence"), (_sweep_every_interval, "sweep")):
        thread = threading.Thread(target=target, name=thread_name, daemon=True)
        thread.start()
        _presence_threads.append(thread)
    log.info("worker %s of host %s consuming from %s", name, settings.host_name, settings.redis_url)
    if settings.prepull:
        # In the background: a missing registry must not hold the worker's start-up.
        threading.Thread(
            target=images.prepull, args=(settings,), name="prepull", daemon=True
        ).start()


def _sweep_every_interval() -> None:
    """Sweeps once an interval, whichever worker's turn it is: with a worker alive, no kata
    is stranded, whatever else has stopped (beat included). Idle kata containers go then,
    and, less often, disks that a crash left with no volume."""
    mailbox = host_mailbox(settings)
    live: KataContainers | None = None
    host: Host | None = None
    disks_due = 0.0
    while not _presence_stop.wait(settings.sweep_interval_s):
        try:
            # The mailboxes by one worker of any host (a lost host's katas are the others'
            # to end); each host's idle containers by one of its own workers.
            if mailbox.sweep_due(settings.sweep_interval_s):
                sweep(mailbox, wake, presence_ttl_s(settings))
            kata = settings.run_container == "kata"
            if kata and mailbox.hosts.sweep_due(settings.sweep_interval_s):
                live = live or KataContainers(Host.connect(settings), mailbox, wake)
                live.remove_idle(settings.kata_idle_s)
            if settings.kata_disk_bytes and time.monotonic() >= disks_due:
                disks_due = time.monotonic() + disk.ORPHANS_EVERY_S
                host = host or Host.connect(settings)
                disk.remove_orphans(host, mailbox, wake)
        except Exception as error:  # Redis or the engine away: sweep at the next interval
            log.warning("sweep: %s", error)


@beat_init.connect
def _beat_presence(**_: Any) -> None:
    """While beat runs, a key with a TTL says so: /workers shows when it was last seen."""
    redis = connect_redis(settings.redis_url)
    record = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started_at": now_iso()})
    ttl_s = presence_ttl_s(settings)

    def announce() -> None:
        while True:
            try:
                redis.set(keys.BEAT, record, ex=ttl_s)
            except Exception as error:
                log.warning("beat presence: redis did not answer: %s", error)
            time.sleep(settings.worker_heartbeat_s)

    threading.Thread(target=announce, name="beat-presence", daemon=True).start()


@worker_shutdown.connect
def _withdraw(**_: Any) -> None:
    _presence_stop.set()
    for thread in _presence_threads:
        thread.join(timeout=3)  # it deletes the presence key as it ends


@worker_process_shutdown.connect
def _close_judge(**_: Any) -> None:
    """A worker process that ends removes its Ruby judge (one it could not would end itself
    when idle)."""
    judge = context().images.judge if context.cache_info().currsize else None
    if judge is None:
        return
    try:
        judge.close()
    except Exception as error:
        log.info("the Ruby judge was not removed: %s", error)
