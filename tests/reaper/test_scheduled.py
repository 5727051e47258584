"""The reaper on a real celery beat schedule: a kata left alone is reaped within a few intervals."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from api.app import create_app
from harness.services import RedisServer, celery_beat, celery_worker, wait_for
from runner.settings import Settings
from sandbox.host import Host
from tests.conftest import SHELL, new_kata_id
from tests.reaper.test_reaping import volume_exists
from tests.stack import stack_env

INTERVAL_S = 2
TTL_S = 3


def finished(client: FlaskClient, answer: Any) -> dict[str, Any]:
    assert answer.status_code == 202, answer.get_data(as_text=True)
    url = answer.get_json()["url"]
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        job = client.get(f"{url}?wait=10").get_json()
        if job["state"] in ("done", "failed"):
            return dict(job)
    raise TimeoutError(url)


def test_a_kata_left_alone_is_reaped_and_a_run_then_finds_no_kata(
    reaper_host: Host, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    env = {
        **stack_env(reaper_host.settings, redis.url),
        "RUNNER_REAP_INTERVAL_S": str(INTERVAL_S),
        "RUNNER_VOLUME_TTL_S": str(TTL_S),
    }
    worker = celery_worker("reaping", env, tmp_path)
    beat = celery_beat(env, tmp_path)
    try:
        client = create_app(Settings(redis_url=redis.url)).test_client()
        kata = new_kata_id()
        run = {"image_name": SHELL, "changed_files": {"cyber-dojo.sh": "echo hi"}}
        assert (
            finished(client, client.put(f"/katas/{kata}", json={"image_name": SHELL}))["state"]
            == "done"
        )
        assert (
            finished(
                client,
                client.put(
                    f"/katas/{kata}/avatars/lion", json={"image_name": SHELL, "starting_files": {}}
                ),
            )["state"]
            == "done"
        )
        ran = finished(client, client.post(f"/katas/{kata}/avatars/lion/runs", json=run))
        assert ran["result"]["stdout"]["content"] == "hi\n"
        assert client.get(f"/katas/{kata}").status_code == 200

        left_alone = time.monotonic()
        wait_for(  # the volume goes first, then the kata's record
            lambda: (
                not volume_exists(reaper_host, kata)
                and client.get(f"/katas/{kata}").status_code == 404
            ),
            TTL_S + 5 * INTERVAL_S,
            "the kata reaped",
        )
        assert time.monotonic() - left_alone >= TTL_S - 1
        assert client.get(f"/katas/{kata}").status_code == 404
        after = finished(client, client.post(f"/katas/{kata}/avatars/lion/runs", json=run))
        assert after["state"] == "failed" and after["error"]["code"] == "kata_not_found"
        assert "reaper: deleted kata " + kata in worker.output()
    finally:
        beat.stop()
        worker.stop()
        redis.stop()
