"""The API sends a kata's drain message only when no message sent earlier is still to start."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient

from harness.services import RedisServer
from runner.mailbox import Mailbox
from tests.api.conftest import Woken, make_app
from tests.api.test_errors import KATA, RUN, run


def test_submissions_before_the_kata_drain_starts_send_one_message(
    client: FlaskClient, redis_client: redis.Redis, woken: Woken
) -> None:
    for _ in range(3):
        assert client.post(RUN, json=run()).status_code == 202
    assert client.put(KATA, json={"image_name": "cyber-dojo-local/shell"}).status_code == 202
    assert woken == ["5A0F8E2B1C"]
    assert client.get(KATA).get_json()["queued"] == 4

    # A drain starts: from then on, the next submission sends a message of its own.
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=3600)
    assert mailbox.clear_woken_and_has_work("5A0F8E2B1C")
    assert client.post(RUN, json=run()).status_code == 202
    assert client.post(RUN, json=run()).status_code == 202
    assert woken == ["5A0F8E2B1C", "5A0F8E2B1C"]
    # Another kata is another mailbox.
    assert client.post("/katas/00000000AA/avatars/lion/runs", json=run()).status_code == 202
    assert woken == ["5A0F8E2B1C", "5A0F8E2B1C", "00000000AA"]


def test_a_message_that_was_not_sent_is_sent_by_the_next_submission(
    api_redis: RedisServer, redis_client: redis.Redis
) -> None:
    sent: list[str] = []

    def send(kata_id: str) -> None:
        if not sent:
            sent.append("failed")
            raise ConnectionError("the broker is away")
        sent.append(kata_id)

    client = make_app(api_redis, Woken(), wake=send).test_client()
    assert client.post(RUN, json=run()).status_code == 202  # accepted: the job is queued
    assert client.post(RUN, json=run()).status_code == 202
    assert client.post(RUN, json=run()).status_code == 202
    assert sent == ["failed", "5A0F8E2B1C"]
    assert client.get(KATA).get_json()["queued"] == 3
