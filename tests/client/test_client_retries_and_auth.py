"""Retries over a Redis outage, the bearer token, and giving up, against real API apps."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis
import requests

from client import ApiError, RunnerClient
from harness.services import ROOT, RedisServer, free_port
from tests.api.conftest import Woken, make_app
from tests.client.conftest import serving
from tests.conftest import SHELL, new_kata_id


def test_a_503_is_retried_until_redis_is_back_and_then_the_call_succeeds(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    restarted: list[RedisServer] = []

    with serving(make_app(server, Woken())) as (url, statuses):
        server.stop()

        def restart_at_the_first_503() -> None:
            statuses.first_503.wait()
            restarted.append(server.restart())

        restarter = threading.Thread(target=restart_at_the_first_503)
        restarter.start()
        try:
            # Ten retries from 0.05 s: the back-off outlasts a Redis restart many times over.
            patient = RunnerClient(url, retries=10, backoff_s=0.05)
            accepted = patient.new_kata(new_kata_id(), SHELL)
        finally:
            statuses.first_503.set()
            restarter.join()
            for back in restarted:
                back.stop()

    assert accepted["state"] == "queued"
    assert statuses[0] == 503 and statuses[-1] == 202
    assert set(statuses[:-1]) == {503}


def test_with_redis_never_back_the_client_raises_api_error_503_unavailable_after_its_retries(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path)
    with serving(make_app(server, Woken())) as (url, statuses):
        server.stop()
        with pytest.raises(ApiError) as error:
            RunnerClient(url, retries=2, backoff_s=0.01).kata(new_kata_id())
    assert (error.value.status, error.value.code) == (503, "unavailable")
    assert statuses == [503, 503, 503]


def test_readiness_is_asked_once_and_not_ready_raises_api_error_503(
    api_redis: RedisServer, redis_client: redis.Redis
) -> None:
    with serving(make_app(api_redis, Woken())) as (url, statuses), pytest.raises(ApiError) as error:
        RunnerClient(url, retries=3, backoff_s=0.01).readyz()
    assert (error.value.status, error.value.code) == (503, "unavailable")
    assert "no worker" in error.value.message
    assert statuses == [503]


def test_a_runner_that_never_answers_raises_connection_error_after_the_retries() -> None:
    client = RunnerClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff_s=0.01)
    with pytest.raises(requests.ConnectionError):
        client.healthz()


def test_other_error_answers_are_not_retried(
    api_redis: RedisServer, redis_client: redis.Redis
) -> None:
    with serving(make_app(api_redis, Woken())) as (url, statuses), pytest.raises(ApiError) as error:
        RunnerClient(url, retries=3, backoff_s=0.01).run(new_kata_id(), "lion", "alpine")
    assert (error.value.status, error.value.code) == (400, "image_not_allowed")
    assert statuses == [400]


def test_a_wrong_token_raises_api_error_401_unauthorized(
    api_redis: RedisServer, redis_client: redis.Redis
) -> None:
    app = make_app(api_redis, Woken(), api_token="the-right-token")
    with serving(app) as (url, _):
        for token in ("a-wrong-token", None):
            with pytest.raises(ApiError) as error:
                RunnerClient(url, token=token).new_kata(new_kata_id(), SHELL)
            assert (error.value.status, error.value.code) == (401, "unauthorized")
            assert RunnerClient(url, token=token).healthz() == {"ok": True}


def test_the_right_token_is_sent_as_a_bearer_token(
    api_redis: RedisServer, redis_client: redis.Redis
) -> None:
    app = make_app(api_redis, Woken(), api_token="the-right-token")
    with serving(app) as (url, _):
        client = RunnerClient(url, token="the-right-token")
        accepted = client.new_kata(new_kata_id(), SHELL)
        assert client.job(accepted["job_id"])["state"] == "queued"


def test_wait_raises_timeout_error_when_the_job_does_not_end_in_time(
    api_redis: RedisServer, redis_client: redis.Redis
) -> None:
    # No worker drains this app's jobs: the job stays queued.
    with serving(make_app(api_redis, Woken())) as (url, _):
        client = RunnerClient(url)
        accepted = client.new_kata(new_kata_id(), SHELL)
        with pytest.raises(TimeoutError):
            client.wait(accepted["job_id"], timeout_s=0.2)


def test_the_client_needs_nothing_of_the_runner_but_http() -> None:
    probe = (
        "import sys, client; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'runner', 'api', 'worker', 'reaper', 'flask', 'redis', 'celery', 'docker', 'pydantic'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
