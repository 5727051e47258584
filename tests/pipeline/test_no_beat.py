"""With no beat running, a killed worker's job still ends worker_lost and its kata goes on:
the sweep runs in every worker's main process, not in a single scheduler.

The whole worker is killed while it runs a job and holds the drain message of the kata's
next job (reserved, not acknowledged: the broker gives it again only after its visibility
timeout, an hour). Only a sweep finds the kata again."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from harness.services import RedisServer, celery_worker, wait_for
from runner.queueing import DRAIN, celery_app
from runner.settings import Settings
from tests.api.conftest import Woken, make_app
from tests.conftest import SHELL, new_kata_id
from tests.stack import LEASE_TTL_S, SWEEP_INTERVAL_S, stack_env


def test_a_killed_workers_job_fails_and_its_kata_goes_on_with_no_beat(
    settings: Settings, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    worker = celery_worker("nobeat", stack_env(settings, redis.url), tmp_path, concurrency=1)
    client = make_app(redis, Woken()).test_client()
    send = celery_app(Settings(redis_url=redis.url)).send_task
    kata = new_kata_id()

    def done(answer_url: str) -> dict[str, object]:
        send(DRAIN, args=[kata])
        wait_for(lambda: client.get(answer_url).get_json()["state"] in ("done", "failed"), 60, "")
        return dict(client.get(answer_url).get_json())

    def run(script: str) -> str:
        body = {"image_name": SHELL, "changed_files": {"cyber-dojo.sh": script}, "max_seconds": 20}
        return str(client.post(f"/katas/{kata}/avatars/lion/runs", json=body).get_json()["url"])

    try:
        assert done(client.put(f"/katas/{kata}", json={"image_name": SHELL}).get_json()["url"])
        avatar = {"image_name": SHELL, "starting_files": {}}
        assert done(client.put(f"/katas/{kata}/avatars/lion", json=avatar).get_json()["url"])
        long_run = run("sleep 20")
        send(DRAIN, args=[kata])
        wait_for(lambda: client.get(long_run).get_json()["state"] == "running", 30, "running")
        next_run = run("echo after")  # the API sends its drain: the busy worker reserves it
        time.sleep(1)
        worker.stop(signal.SIGKILL)  # the whole worker, with the message it reserved
        killed_at = time.monotonic()
        worker = celery_worker("nobeat-again", stack_env(settings, redis.url), tmp_path)
        bound = LEASE_TTL_S + SWEEP_INTERVAL_S + 30
        wait_for(lambda: client.get(long_run).get_json()["state"] == "failed", bound, "lost")
        assert client.get(long_run).get_json()["error"]["code"] == "worker_lost"
        wait_for(lambda: client.get(next_run).get_json()["state"] == "done", bound, "next run")
        assert time.monotonic() - killed_at < bound
        assert client.get(next_run).get_json()["result"]["stdout"]["content"] == "after\n"
        assert done(client.delete(f"/katas/{kata}").get_json()["url"])["state"] == "done"
    finally:
        worker.stop()
        redis.stop()
