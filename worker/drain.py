"""Draining a kata's mailbox: its jobs one at a time, in order, under its lease; the logic
behind the drain task."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from runner import metrics
from runner.clock import now_iso
from runner.errors import InvalidRequest, RunnerError, Unavailable
from runner.logs import job_context
from runner.mailbox import JobInput, Lease, Mailbox, host_mailbox
from runner.models import Job
from runner.settings import Settings
from runner.store import redis_errors
from sandbox.host import FENCE_LABEL, Host
from sandbox.images import Images
from sandbox.kata_containers import KataContainers
from worker.kinds import KINDS

log = logging.getLogger(__name__)

Wake = Callable[[str], None]


@dataclass
class Context:
    """What a worker process drains with."""

    host: Host
    images: Images
    mailbox: Mailbox
    wake: Wake
    holder: str = f"{socket.gethostname()}:{os.getpid()}"
    live: KataContainers | None = None  # None: a fresh container for every run

    @property
    def settings(self) -> Settings:
        return self.host.settings

    @classmethod
    def connect(cls, settings: Settings, wake: Wake, holder: str = "") -> Context:
        """A context on the docker engine and the Redis that the settings name."""
        mailbox = host_mailbox(settings)
        host = Host.connect(settings)
        live = KataContainers.of(host, mailbox, wake)
        return cls(
            host=host,
            images=Images.of(host),
            mailbox=mailbox,
            wake=wake,
            holder=holder or f"{socket.gethostname()}:{os.getpid()}",
            live=live,
        )


def drain(ctx: Context, kata_id: str) -> int:
    """Runs up to drain_batch jobs of the kata in order, if its lease is free; returns how many."""
    placed = ctx.mailbox.hosts.kata_host(kata_id)
    if placed is not None and placed != ctx.mailbox.host_name:
        # A stale message (this host was lost, and the kata placed anew): not this host's.
        log.info("kata %s is placed on host %s: not drained here", kata_id, placed)
        return 0
    if not ctx.mailbox.clear_woken_and_has_work(kata_id):
        return 0  # a wake-up after an earlier drain took the jobs
    lease = ctx.mailbox.acquire(kata_id, ctx.holder)
    if lease is None:
        return 0  # the holder drains; it re-checks the queue before it lets go
    ran = 0
    clean = False  # only once the drain ends normally, and every job left nothing
    try:
        lost = ctx.mailbox.fail_orphans(kata_id, now_iso(), lease)
        if lost > 0:
            log.warning("kata %s: %d in-flight job(s) of a lost worker failed", kata_id, lost)
            metrics.ERRORS.labels("worker_lost").inc(lost)
        if not lease.after_clean:
            remove_older_fences(ctx.host, kata_id, lease.fence)
        codes = set()
        with heartbeat(ctx.mailbox, lease) as still_held:
            while ran < ctx.settings.drain_batch and still_held.is_set():
                job_id = ctx.mailbox.take(lease, now_iso())
                if job_id is None:
                    break
                codes.add(run_job(ctx, lease, job_id))
                ran += 1
        clean = codes <= LEAVES_NOTHING
    finally:
        queued = ctx.mailbox.release(lease, clean=clean)
    if queued:
        ctx.wake(kata_id)  # more came, or the batch ended: hand the kata back to the queue
    return ran


# How a job can end and leave no container of its own behind: done, or failed before or
# after its containers (each removed before the operation returns) for a reason in its input.
LEAVES_NOTHING = frozenset(
    {
        None,
        "kata_not_found",
        "avatar_not_found",
        "image_not_found",
        "kata_disk_full",
        "host_disk_full",
    }
)


def run_job(ctx: Context, lease: Lease, job_id: str) -> str | None:
    """Runs one taken job and records its end (only while the lease is held); returns its
    error code, None when it was done."""
    got = ctx.mailbox.payload(job_id)
    if got is None:
        log.warning("job %s expired before it ran", job_id)
        ctx.mailbox.finish(
            lease, job_id, state="failed", now=now_iso(), result="", error="", kata_effect=""
        )
        return None
    ctx.images.pulled(got.images_pulled)
    with job_context(job_id=job_id, kata_id=lease.kata_id, avatar=got.avatar_name):
        state, result, error = _execute(ctx, lease, job_id, got)
        if got.kind == "pull_image" and error is None:
            ctx.mailbox.image_pulled()  # counted before the pull is seen done
        # Counted before the end is recorded: whoever sees the job end sees it counted.
        metrics.JOBS_FINISHED.labels(got.kind, "done" if error is None else error["code"]).inc()
        recorded = record_end(
            ctx.mailbox,
            lease,
            job_id,
            state=state,
            result="" if result is None else json.dumps(result),
            error="" if error is None else json.dumps(error),
            kata_effect=KINDS[got.kind].kata_effect if state == "done" else "",
        )
        if not recorded:
            log.error(
                "job %s: the lease on kata %s was lost; its result was dropped",
                job_id,
                lease.kata_id,
            )
        return None if error is None else error["code"]


def record_end(
    mailbox: Mailbox,
    lease: Lease,
    job_id: str,
    *,
    state: str,
    result: str,
    error: str,
    kata_effect: str,
    retry_s: float = 0.5,
) -> bool:
    """Records the job's end; while Redis does not answer, tries again for as long as the
    lease could still be held (a run that ended during an outage is recorded when Redis is
    back, not lost). False when the lease was lost."""
    give_up = time.monotonic() + mailbox.lease_ttl_ms / 1000
    ended = now_iso()  # when the job ended, not when Redis came back
    while True:
        try:
            with redis_errors():
                return mailbox.finish(
                    lease,
                    job_id,
                    state=state,
                    now=ended,
                    result=result,
                    error=error,
                    kata_effect=kata_effect,
                )
        except Unavailable as unreachable:
            if time.monotonic() + retry_s > give_up:
                raise
            log.warning("job %s: its end is not recorded yet: %s", job_id, unreachable)
            time.sleep(retry_s)


def _execute(
    ctx: Context, lease: Lease, job_id: str, got: JobInput
) -> tuple[str, Any, dict[str, str] | None]:
    """The job's state, result and error, as they are to be recorded."""
    started = time.monotonic()
    try:
        job = _job(ctx, lease, job_id, got)
        kind = KINDS[got.kind]
        if kind.runs:
            # The run time goes into the volume at most once an interval for the service.
            due = _run_at_due(ctx, lease.kata_id)
            result: Any = kind.operation(ctx.host, ctx.images, job, live=ctx.live, write_run_at=due)
        else:
            result = kind.operation(ctx.host, ctx.images, job)
            if got.kind == "old_kata" and ctx.live is not None:
                ctx.live.dropped(lease.kata_id)  # its containers went with it
    except RunnerError as failure:
        metrics.ERRORS.labels(failure.code).inc()
        log.warning("job %s %s failed: %s: %s", job_id, got.kind, failure.code, failure)
        return "failed", None, {"code": failure.code, "message": str(failure)}
    except Exception as failure:  # anything else is reported, and logged with its traceback
        metrics.ERRORS.labels("internal").inc()
        log.exception("job %s %s failed", job_id, got.kind)
        return (
            "failed",
            None,
            {"code": "internal", "message": f"{type(failure).__name__}: {failure}"},
        )
    if KINDS[got.kind].runs:
        metrics.RUN_DURATION.observe(time.monotonic() - started)
        colour, took_ms = result["colour"], result["duration_ms"]
        log.debug("job %s %s: %s in %d ms", job_id, got.kind, colour, took_ms)
    else:
        log.debug("job %s %s done", job_id, got.kind)
    return "done", result, None


def _run_at_due(ctx: Context, kata_id: str) -> bool:
    """Whether the run writes its time into the volume; yes when Redis does not answer (a
    run does not wait for Redis: its end does)."""
    try:
        return ctx.mailbox.run_at_due(kata_id, ctx.settings.run_at_every_s)
    except Exception as error:
        log.warning("kata %s: writing its run time, as Redis does not say: %s", kata_id, error)
        return True


def _job(ctx: Context, lease: Lease, job_id: str, got: JobInput) -> Job[Any]:
    """The job, its request parsed again by the model that the API parsed it with."""
    try:
        request = KINDS[got.kind].request.model_validate_json(
            got.payload, context={"settings": ctx.settings}
        )
    except ValidationError as error:
        raise InvalidRequest(f"the stored request of job {job_id} is not valid: {error}") from error
    return Job(lease.kata_id, request, got.avatar_name, job_id, lease.fence)


def remove_older_fences(host: Host, kata_id: str, fence: int) -> int:
    """Removes the kata's containers started under an older lease (a lost worker's)."""
    stale = [
        c for c in host.kata_containers(kata_id) if int(c.labels.get(FENCE_LABEL, "0")) < fence
    ]
    for container in stale:
        log.warning("kata %s: removing container %s of an older lease", kata_id, container.id[:12])
        host.engine.remove_container(container.id)
    return len(stale)


@contextmanager
def heartbeat(mailbox: Mailbox, lease: Lease) -> Iterator[threading.Event]:
    """Renews the lease every third of its TTL; the event clears if it is lost."""
    still_held = threading.Event()
    still_held.set()
    stop = threading.Event()
    interval = mailbox.lease_ttl_ms / 3000

    def beat() -> None:
        while not stop.wait(interval):
            try:
                if not mailbox.renew(lease):
                    log.error("kata %s: lease lost", lease.kata_id)
                    still_held.clear()
                    return
            except Exception:  # Redis hiccup: try again at the next beat
                log.warning("kata %s: lease renewal failed", lease.kata_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"lease-{lease.kata_id}", daemon=True)
    thread.start()
    try:
        yield still_held
    finally:
        stop.set()
        thread.join()
