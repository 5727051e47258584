"""The Celery app both sides use: the API only sends wake-ups, the workers run them.

Kept free of Docker so that the API can send a task by name without importing the worker.
"""

from __future__ import annotations

from celery import Celery

from runner.settings import Settings

QUEUE = "runner"
DRAIN = "runner.drain"
REAP = "runner.reap"


def celery_app(settings: Settings) -> Celery:
    """A Celery app on the settings' Redis, with each reliability setting chosen on purpose."""
    app = Celery("runner", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        # A worker that starts before Redis waits for it instead of exiting.
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # One message at a time per process: a drain can take minutes, and prefetched
        # wake-ups would wait behind it while other processes idle.
        worker_prefetch_multiplier=1,
        # A drain lost with its process is delivered again; drains are idempotent hints.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Keep running drains when the broker connection drops: the lease, not the message,
        # guarantees one holder per kata, so a redelivered duplicate does no harm.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Longer than the longest drain (drain_batch runs of at most 20 s): an unacked
        # message is not redelivered while its drain still runs.
        broker_transport_options={"visibility_timeout": 3600},
        # Job records live in our own Redis keys; Celery keeps no results.
        task_ignore_result=True,
        # A drain that hangs anyway is killed; its lease expires and the sweep recovers.
        task_time_limit=max(600, settings.drain_batch * 60),
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        # Only the reaper: the sweep runs in every worker's main process (worker/app.py), so
        # that a stopped beat strands no kata.
        beat_schedule={"reap": {"task": REAP, "schedule": settings.reap_interval_s}},
    )
    return app


def send_drain(celery: Celery, kata_id: str) -> None:
    """Sends a drain of the kata: a hint to whichever worker is free (the lease decides)."""
    celery.send_task(DRAIN, args=[kata_id])
