"""The Celery app both sides use: the API only sends wake-ups, the workers run them.

Kept free of Docker so that the API can send a task by name without importing the worker.

A worker of a host takes, from whichever of these is first not empty (ARCHITECTURE.md,
"Serialized per kata, FIFO"): the host's reaper passes, the common queue, the host's
wake-ups (the API's and the sweep's drains of a kata), then the host's continuations (a kata
handed back after a whole batch, with more queued). A kata handed back thus waits behind
every kata still to start, never the other way round.
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
REAP = "runner.reap"  # one host's reaper pass, on that host's queue of reaper passes
REAP_ALL = "runner.reap_all"  # beat's: sends a reap to every live host

# The woken mark's value while a kata's continuation waits (the API sets "1"): the API sends
# no wake-up of the kata meanwhile, and one sent before drains nothing. An hour outlasts a
# continuation's wait; the drain of the continuation clears it, as any drain clears the mark.
HANDED_BACK = b"handed back"
HANDED_BACK_TTL_S = 3600
# A continuation still waiting after this long is sent again, in case it was lost (a kata
# whose jobs wait with no holder is found by every sweep): one message a kata at a time, not
# one a sweep.
RESENT_AFTER_S = 60


def host_queue(host_name: str) -> str:
    """The Celery queue of a host's wake-ups: the API's and the sweep's drains of a kata."""
    return f"runner.host.{host_name}"


def continuation_queue(host_name: str) -> str:
    """The Celery queue of a host's continuations: drains of katas handed back."""
    return f"runner.host.{host_name}.more"


def reap_queue(host_name: str) -> str:
    """The Celery queue of a host's reaper passes."""
    return f"runner.host.{host_name}.reap"


def consumed(host_name: str) -> list[str]:
    """The queues a worker of the host consumes, in the order it looks at them."""
    return [reap_queue(host_name), QUEUE, host_queue(host_name), continuation_queue(host_name)]


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
        broker_transport_options={
            # Longer than the longest drain (drain_batch runs of at most 20 s): an unacked
            # message is not redelivered while its drain still runs.
            "visibility_timeout": 3600,
            # One BRPOP over the queues in task_queues' order takes from the first that is
            # not empty (kombu's default, round_robin, rotates the one it took from to the
            # end): a free process takes a reaper pass, then a wake-up, before a continuation.
            "queue_order_strategy": "priority",
        },
        # Job records live in our own Redis keys; Celery keeps no results.
        task_ignore_result=True,
        # A drain that hangs anyway is killed; its lease expires and the sweep recovers.
        task_time_limit=max(600, settings.drain_batch * 60),
        # Declared, never made up: a message sent by queue name must name one of these (a
        # drain for another host is sent with its own Queue, send_drain), and a worker
        # consumes its host's queues and the common one, in the order of consumed().
        task_queues=[declared(name) for name in consumed(settings.host_name)],
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
    """Sends a wake-up of the kata to its host's queue: a hint to whichever of the host's
    workers is free (the lease decides)."""
    celery.send_task(DRAIN, args=[kata_id], queue=declared(host_queue(host_name)))


def send_continuation(celery: Celery, kata_id: str, host_name: str) -> None:
    """Sends the drain of a kata handed back to its host's queue of continuations."""
    queue = declared(continuation_queue(host_name))
    celery.send_task(DRAIN, args=[kata_id], kwargs={"handed_back": True}, queue=queue)


def send_reap(celery: Celery, host_name: str) -> None:
    """Sends a reaper pass to the host's queue of reaper passes."""
    celery.send_task(REAP, queue=declared(reap_queue(host_name)))


class Waker:
    """How a worker sends a kata's drain, to the host the kata is placed on (the default
    host's for one placed nowhere, as image pulls are)."""

    def __init__(self, celery: Celery, client: redis.Redis, default_host: str) -> None:
        self.celery = celery
        self.redis = client
        self.default_host = default_host

    def wake(self, kata_id: str) -> None:
        """A wake-up of the kata; none while its continuation waits (that drains it), unless
        the continuation has waited RESENT_AFTER_S: it is then sent again."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.kata(kata_id), "host")
        pipe.get(keys.woken(kata_id))
        pipe.pttl(keys.woken(kata_id))
        host, mark, left_ms = pipe.execute()
        host_name = host.decode() if isinstance(host, bytes) else self.default_host
        if mark != HANDED_BACK:
            send_drain(self.celery, kata_id, host_name)
        elif HANDED_BACK_TTL_S - left_ms / 1000 >= RESENT_AFTER_S:
            self.hand_back(kata_id)

    def hand_back(self, kata_id: str) -> None:
        """Sends the continuation of a kata that ran a whole batch and has more queued. The
        mark comes first: a wake-up of the kata sent before it then drains nothing."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.kata(kata_id), "host")
        pipe.set(keys.woken(kata_id), HANDED_BACK, ex=HANDED_BACK_TTL_S)
        host, _ = pipe.execute()
        host_name = host.decode() if isinstance(host, bytes) else self.default_host
        send_continuation(self.celery, kata_id, host_name)

    def is_handed_back(self, kata_id: str) -> bool:
        """True while the kata's continuation waits."""
        return bool(self.redis.get(keys.woken(kata_id)) == HANDED_BACK)


def waker(celery: Celery, client: redis.Redis, default_host: str) -> Callable[[str], None]:
    """A worker's wake(kata_id) (Waker.wake)."""
    return Waker(celery, client, default_host).wake
