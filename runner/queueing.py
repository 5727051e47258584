"""The Celery app both sides use: the API only sends wake-ups, the workers run them.

Kept free of Docker so that the API can send a task by name without importing the worker.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from celery import Celery
from kombu.entity import Exchange, Queue

from runner import keys
from runner.settings import Settings

# Every worker consumes it besides its host's own: work for any one worker (beat's reap,
# which a worker hands on to every live host).
QUEUE = "runner"
DRAIN = "runner.drain"
REAP = "runner.reap"  # one host's reaper pass, on that host's queue
REAP_ALL = "runner.reap_all"  # beat's: sends a reap to every live host


def host_queue(host_name: str) -> str:
    """The Celery queue of a host's workers."""
    return f"runner.host.{host_name}"


def declared(name: str) -> Queue:
    """A queue with an exchange and routing key of its own: a message sent to it reaches it
    alone (given no exchange, Celery binds every queue to the default one with one key, and a
    message to one host would reach the common queue too). kombu's Queue is untyped."""
    return Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]


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
        # Declared, never made up: a message sent by queue name must name one of these (a
        # drain for another host is sent with its own Queue, send_drain), and a worker
        # consumes its host's queue and the common one.
        task_queues=[declared(host_queue(settings.host_name)), declared(QUEUE)],
        task_create_missing_queues=False,
        task_default_queue=host_queue(settings.host_name),
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        # Only the reaper: the sweep runs in every worker's main process (worker/app.py), so
        # that a stopped beat strands no kata.
        beat_schedule={
            "reap": {
                "task": REAP_ALL,
                "schedule": settings.reap_interval_s,
                "options": {"queue": QUEUE},
            }
        },
    )
    return app


def send_drain(celery: Celery, kata_id: str, host_name: str) -> None:
    """Sends a drain of the kata to its host's queue: a hint to whichever of the host's
    workers is free (the lease decides)."""
    celery.send_task(DRAIN, args=[kata_id], queue=declared(host_queue(host_name)))


def send_reap(celery: Celery, host_name: str) -> None:
    """Sends a reaper pass to the host's queue."""
    celery.send_task(REAP, queue=declared(host_queue(host_name)))


def waker(celery: Celery, client: redis.Redis, default_host: str) -> Callable[[str], None]:
    """A worker's wake(kata_id): a drain sent to the queue of the host the kata is placed on
    (the default host's for one placed nowhere, as image pulls are)."""

    def wake(kata_id: str) -> None:
        host = client.hget(keys.kata(kata_id), "host")
        send_drain(celery, kata_id, host.decode() if isinstance(host, bytes) else default_host)

    return wake
