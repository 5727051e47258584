"""cyber-dojo's pull_image pulls as POST /images/pull does: a pull job on every live host."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient

from runner import keys
from runner.mailbox import Mailbox
from tests.conftest import SHELL


def live(client: redis.Redis, *hosts: str) -> None:
    for host in hosts:
        Mailbox(client, lease_ttl_s=30, job_ttl_s=60, host_name=host).hosts.seen()


def pulls_queued(client: redis.Redis) -> dict[str, int]:
    """How many pull jobs each host's queue of image pulls holds."""
    return {host: client.llen(keys.queue(keys.images_queue(host))) for host in ("a", "b")}


def test_the_protocols_pull_queues_a_pull_on_every_live_host_as_the_api_does(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    live(redis_client, "a", "b")
    accepted = client.post("/images/pull", json={"image_name": SHELL, "if_missing": True})
    assert accepted.status_code == 202
    assert pulls_queued(redis_client) == {"a": 1, "b": 1}
    redis_client.delete(*(keys.queue(keys.images_queue(host)) for host in ("a", "b")))

    answer = client.get("/pull_image", json={"id": "a1B2c3-0", "image_name": SHELL})
    assert answer.get_json() == {"pull_image": "pulling"}  # no worker pulls here
    assert pulls_queued(redis_client) == {"a": 1, "b": 1}
    started = redis_client.get(keys.cyber_dojo_pull(SHELL))
    assert started is not None
    assert redis_client.hget(keys.job(started.decode()), "hosts") == b"a,b"
