"""Redis stopped: the API answers 503 and recovers; accepted jobs survive a restart (AOF)."""

from __future__ import annotations

import time
from pathlib import Path

from harness.services import RedisServer, celery_worker, wait_for
from runner.queueing import DRAIN, celery_app
from runner.settings import Settings
from tests.api.conftest import Woken, make_app
from tests.conftest import SHELL, new_kata_id
from tests.stack import stack_env


def test_redis_down_is_503_and_no_accepted_job_is_lost_across_a_restart(
    settings: Settings, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    woken = Woken()
    client = make_app(redis, woken).test_client()
    kata = new_kata_id()
    accepted = client.put(f"/katas/{kata}", json={"image_name": SHELL})
    assert accepted.status_code == 202
    job_url = accepted.get_json()["url"]

    redis.stop()
    for answer in (
        client.put(f"/katas/{kata}", json={"image_name": SHELL}),
        client.get(job_url),
        client.get(f"/katas/{kata}"),
        client.get("/readyz"),
    ):
        assert answer.status_code == 503, answer.get_data(as_text=True)
        assert answer.get_json()["error"]["code"] == "unavailable"
    assert client.get("/healthz").status_code == 200

    redis = redis.restart()
    worker = celery_worker("outage", stack_env(settings, redis.url), tmp_path)
    try:
        assert client.get(job_url).get_json()["state"] == "queued"
        # The wake-up was recorded, not sent, and no beat sweeps here: send it as the API would.
        celery_app(Settings(redis_url=redis.url)).send_task(DRAIN, args=[kata])
        wait_for(lambda: client.get(job_url).get_json()["state"] == "done", 60, "the job done")
        removal = client.delete(f"/katas/{kata}")
        assert removal.status_code == 202
        celery_app(Settings(redis_url=redis.url)).send_task(DRAIN, args=[kata])
        wait_for(
            lambda: client.get(removal.get_json()["url"]).get_json()["state"] == "done",
            60,
            "the kata removed",
        )
    finally:
        worker.stop()
        redis.stop()


def test_a_run_that_ends_while_redis_is_down_is_recorded_when_redis_is_back(
    settings: Settings, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    env = {**stack_env(settings, redis.url), "RUNNER_LEASE_TTL_S": "30"}
    worker = celery_worker("ends-in-outage", env, tmp_path)
    client = make_app(redis, Woken()).test_client()
    send = celery_app(Settings(redis_url=redis.url)).send_task
    kata = new_kata_id()
    try:
        for path, body in (
            (f"/katas/{kata}", {"image_name": SHELL}),
            (f"/katas/{kata}/avatars/lion", {"image_name": SHELL, "starting_files": {}}),
        ):
            url = client.put(path, json=body).get_json()["url"]
            send(DRAIN, args=[kata])
            wait_for(lambda u=url: client.get(u).get_json()["state"] == "done", 60, path)
        script = {"cyber-dojo.sh": "sleep 3; echo ran; exit 1"}
        run = client.post(
            f"/katas/{kata}/avatars/lion/runs", json={"image_name": SHELL, "changed_files": script}
        ).get_json()["url"]
        send(DRAIN, args=[kata])
        wait_for(lambda: client.get(run).get_json()["state"] == "running", 30, "the run running")
        redis.stop()
        time.sleep(6)  # the run ends meanwhile, and its worker cannot record it
        redis = redis.restart()
        wait_for(lambda: client.get(run).get_json()["state"] != "running", 30, "the run ended")
        job = client.get(run).get_json()
        assert job["state"] == "done", job["error"]
        assert (job["result"]["stdout"]["content"], job["result"]["colour"]) == ("ran\n", "red")
        removal = client.delete(f"/katas/{kata}").get_json()["url"]
        send(DRAIN, args=[kata])
        wait_for(lambda: client.get(removal).get_json()["state"] == "done", 60, "removed")
    finally:
        worker.stop()
        redis.stop()
