"""Draining a kata's mailbox and sweeping stranded katas: the logic behind the tasks."""

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

from runner import metrics
from runner.errors import RunnerError
from runner.jobs import connect_redis, now_iso
from runner.logs import job_context
from runner.mailbox import Lease, Mailbox
from runner.settings import Settings
from worker import images, sandbox
from worker.docker_host import docker_errors, remove_container
from worker.host import RUNNER_LABEL, Host

log = logging.getLogger(__name__)

Wake = Callable[[str], None]

# The kata record's time each successful job sets.
KATA_EFFECT = {
    "pull_image": "",
    "new_kata": "hello_at",
    "new_avatar": "hello_at",
    "run": "run_at",
    "old_kata": "forget",
    "old_avatar": "",
}


@dataclass
class Context:
    """What a worker process drains with."""

    host: Host
    mailbox: Mailbox
    wake: Wake
    drain_batch: int
    holder: str = f"{socket.gethostname()}:{os.getpid()}"

    @classmethod
    def connect(cls, settings: Settings, wake: Wake, holder: str = "") -> Context:
        """A context on the docker engine and the Redis that the settings name."""
        mailbox = Mailbox(
            connect_redis(settings.redis_url),
            lease_ttl_s=settings.lease_ttl_s,
            job_ttl_s=settings.job_ttl_s,
        )
        host = Host.connect(settings)
        host.run_at_gate = lambda kata_id: mailbox.run_at_due(kata_id, settings.run_at_every_s)
        return cls(
            host=host,
            mailbox=mailbox,
            wake=wake,
            drain_batch=settings.drain_batch,
            holder=holder or f"{socket.gethostname()}:{os.getpid()}",
        )


def drain(ctx: Context, kata_id: str) -> int:
    """Runs up to drain_batch jobs of the kata in order, if its lease is free; returns how many."""
    if not ctx.mailbox.has_work(kata_id):
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
            while ran < ctx.drain_batch and still_held.is_set():
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
LEAVES_NOTHING = frozenset({None, "kata_not_found", "avatar_not_found", "image_not_found"})


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
    kind, payload = got.kind, got.payload
    ctx.host.images_pulled(got.images_pulled)
    avatar = payload.get("avatar_name")
    with job_context(job_id=job_id, kata_id=lease.kata_id, avatar=str(avatar or "")):
        state, result, error = _execute(ctx, lease, job_id, kind, payload)
        if kind == "pull_image" and error is None:
            ctx.mailbox.image_pulled()  # counted before the pull is seen done
        # Counted before the end is recorded: whoever sees the job end sees it counted.
        metrics.JOBS_FINISHED.labels(kind, "done" if error is None else error["code"]).inc()
        recorded = ctx.mailbox.finish(
            lease,
            job_id,
            state=state,
            now=now_iso(),
            result="" if result is None else json.dumps(result),
            error="" if error is None else json.dumps(error),
            kata_effect=KATA_EFFECT[kind] if state == "done" else "",
        )
        if not recorded:
            log.error(
                "job %s: the lease on kata %s was lost; its result was dropped",
                job_id,
                lease.kata_id,
            )
        return None if error is None else error["code"]


def _execute(
    ctx: Context, lease: Lease, job_id: str, kind: str, payload: dict[str, Any]
) -> tuple[str, Any, dict[str, str] | None]:
    """The job's state, result and error, as they are to be recorded."""
    started = time.monotonic()
    try:
        result = OPERATIONS[kind](ctx.host, lease.kata_id, payload, job_id, lease.fence)
    except RunnerError as failure:
        metrics.ERRORS.labels(failure.code).inc()
        log.warning("job %s %s failed: %s: %s", job_id, kind, failure.code, failure)
        return "failed", None, {"code": failure.code, "message": str(failure)}
    except Exception as failure:  # anything else is reported, and logged with its traceback
        metrics.ERRORS.labels("internal").inc()
        log.exception("job %s %s failed", job_id, kind)
        return (
            "failed",
            None,
            {"code": "internal", "message": f"{type(failure).__name__}: {failure}"},
        )
    if kind == "run":
        metrics.RUN_DURATION.observe(time.monotonic() - started)
        log.debug("job %s run: %s in %d ms", job_id, result["colour"], result["duration_ms"])
    else:
        log.debug("job %s %s done", job_id, kind)
    return "done", result, None


def _new_kata(host: Host, kata_id: str, p: dict[str, Any], job_id: str, fence: int) -> Any:
    return sandbox.new_kata(host, kata_id, p["image_name"], job_id=job_id, fence=fence)


def _old_kata(host: Host, kata_id: str, p: dict[str, Any], job_id: str, fence: int) -> Any:
    return sandbox.old_kata(host, kata_id, job_id=job_id)


def _new_avatar(host: Host, kata_id: str, p: dict[str, Any], job_id: str, fence: int) -> Any:
    return sandbox.new_avatar(
        host,
        kata_id,
        p["avatar_name"],
        p["image_name"],
        p["starting_files"],
        job_id=job_id,
        fence=fence,
    )


def _old_avatar(host: Host, kata_id: str, p: dict[str, Any], job_id: str, fence: int) -> Any:
    return sandbox.old_avatar(host, kata_id, p["avatar_name"], job_id=job_id, fence=fence)


def _run(host: Host, kata_id: str, p: dict[str, Any], job_id: str, fence: int) -> Any:
    return sandbox.run(
        host,
        kata_id,
        p["avatar_name"],
        p["image_name"],
        p["changed_files"],
        p["deleted_filenames"],
        p["max_seconds"],
        job_id=job_id,
        fence=fence,
    )


def _pull_image(host: Host, kata_id: str, p: dict[str, Any], job_id: str, fence: int) -> Any:
    return images.pull(host, p["image_name"])


OPERATIONS: dict[str, Callable[[Host, str, dict[str, Any], str, int], Any]] = {
    "pull_image": _pull_image,
    "new_kata": _new_kata,
    "old_kata": _old_kata,
    "new_avatar": _new_avatar,
    "old_avatar": _old_avatar,
    "run": _run,
}


def remove_older_fences(host: Host, kata_id: str, fence: int) -> int:
    """Removes the kata's containers started under an older lease (a lost worker's)."""
    with docker_errors():
        found = host.client.api.containers(
            all=True,
            filters={
                "label": [
                    f"{RUNNER_LABEL}={host.settings.instance}",
                    f"{RUNNER_LABEL}.kata_id={kata_id}",
                ]
            },
        )
    stale = [c["Id"] for c in found if int(c["Labels"].get(f"{RUNNER_LABEL}.fence", "0")) < fence]
    for container_id in stale:
        log.warning("kata %s: removing container %s of an older lease", kata_id, container_id[:12])
        remove_container(host.client, container_id)
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


def sweep(mailbox: Mailbox, wake: Wake) -> dict[str, int]:
    """Fails orphaned in-flight jobs and re-wakes katas whose queue waits with no holder."""
    counts = {"examined": 0, "orphans": 0, "woken": 0}
    for kata_id in mailbox.active_katas():
        counts["examined"] += 1
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
