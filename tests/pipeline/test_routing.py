"""Each host's messages reach its own queue alone."""

from __future__ import annotations

import redis

from harness.services import RedisServer
from runner.queueing import (
    QUEUE,
    celery_app,
    continuation_queue,
    host_queue,
    reap_queue,
    send_continuation,
    send_drain,
    send_reap,
)
from runner.settings import Settings


def test_a_drain_for_a_host_reaches_that_host_s_queue_alone(
    api_redis: RedisServer, redis_client: redis.Redis
) -> None:
    # Sent by the API (whose default host is a) to b, and to a; a continuation and a reaper
    # pass to b; beat's reap to the common queue.
    app = celery_app(Settings(redis_url=api_redis.url, host_name="a"))
    try:
        for host in ("a", "b"):  # each host's worker declares its queues, as it starts
            worker = celery_app(Settings(redis_url=api_redis.url, host_name=host))
            with worker.connection_for_write() as connection:
                for queue in worker.amqp.queues.values():
                    queue.bind(connection).declare()
            worker.close()
        send_drain(app, "Kata0001", "b")
        send_drain(app, "Kata0002", "a")
        send_continuation(app, "Kata0001", "b")
        send_reap(app, "b")
        app.send_task("runner.reap_all", queue=QUEUE)
    finally:
        app.close()
    names = [host_queue("a"), host_queue("b"), continuation_queue("b"), reap_queue("b"), QUEUE]
    assert [redis_client.llen(q) for q in names] == [1, 1, 1, 1, 1]


def test_a_worker_consumes_its_host_s_queues_and_the_common_one_in_order() -> None:
    app = celery_app(Settings(host_name="b"))
    order = ["runner.host.b.reap", QUEUE, "runner.host.b", "runner.host.b.more"]
    assert [(q.name, q.exchange.name, q.routing_key) for q in app.conf.task_queues] == [
        (name, name, name) for name in order
    ]
    assert app.conf.broker_transport_options["queue_order_strategy"] == "priority"
    assert app.conf.task_create_missing_queues is False
