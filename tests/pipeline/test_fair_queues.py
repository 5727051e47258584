"""Fair queues under load: a kata with nothing pending, and a reaper pass, start at the end of
the batch that runs, however many busy katas wait with jobs queued; the sweep waits for no run;
a kata placed anew is woken on its new host at once.

One worker process, drain batches of 2, busy katas each with several runs queued: the worker
runs one thing at a time, so the order of the jobs' started_at is the order it took them in.
Every assertion is on that order, none on how long anything took."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from flask.testing import FlaskClient

from api.app import create_app
from harness.services import RedisServer, Service, celery_worker, wait_for
from runner import keys
from runner.clock import now_iso
from runner.queueing import HANDED_BACK, HANDED_BACK_TTL_S, celery_app, send_reap
from runner.settings import Settings
from sandbox.host import Host
from tests.conftest import SHELL, new_kata_id
from tests.hosts.conftest import clear, leftovers
from tests.pipeline.test_placement import LOST_S, NEW, heartbeat, jobs_on, silent_for
from tests.stack import stack_env

BATCH = 2
BUSY_KATAS = 4
QUEUED = 5  # runs queued on each busy kata at once
SLEEP = {"image_name": SHELL, "changed_files": {"cyber-dojo.sh": "sleep 0.1"}, "max_seconds": 10}


@dataclass
class Runner:
    """A Redis, the API (a test client that sends real drain messages), one worker process."""

    api: FlaskClient
    redis: redis.Redis
    celery: Celery
    worker: Service
    busy: list[str]
    katas: list[str]  # every kata made, removed at the end

    def new_kata(self) -> str:
        """Submits a new kata's first job (its new_kata); returns the job's id."""
        kata_id = new_kata_id()
        self.katas.append(kata_id)
        return self.submit("PUT", f"/katas/{kata_id}", {"image_name": SHELL})

    def submit(self, method: str, path: str, body: dict[str, Any]) -> str:
        answer = self.api.open(path, method=method, json=body)
        assert answer.status_code == 202, answer.get_json()
        return str(answer.get_json()["job_id"])

    def job(self, job_id: str) -> dict[str, str]:
        record = self.redis.hgetall(keys.job(job_id))
        return {k.decode(): v.decode() for k, v in record.items()}

    def ended(self, *job_ids: str) -> list[dict[str, str]]:
        """The jobs once they all ended, each done."""
        wait_for(lambda: all(self.job(j)["state"] == "done" for j in job_ids), 60, "jobs done")
        return [self.job(j) for j in job_ids]

    def load(self) -> list[str]:
        """QUEUED runs on each busy kata; returns once each busy kata has started one, so that
        what waits for the worker now is the busy katas' continuations."""
        firsts, all_ids = [], []
        for kata_id in self.busy:
            path = f"/katas/{kata_id}/avatars/lion/runs"
            ids = [self.submit("POST", path, SLEEP) for _ in range(QUEUED)]
            firsts.append(ids[0])
            all_ids += ids
        wait_for(
            lambda: all(self.job(j)["state"] != "queued" for j in firsts),
            60,
            "every busy kata started",
        )
        return all_ids


@pytest.fixture(scope="module")
def runner(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    log_dir = tmp_path_factory.mktemp("fair-queues")
    server = RedisServer(log_dir)
    # An instance of its own: this worker's reaper sees no other test's containers.
    instance = f"{settings.instance}f"
    env = {
        **stack_env(settings, server.url),
        "RUNNER_INSTANCE": instance,
        "RUNNER_DRAIN_BATCH": str(BATCH),
    }
    worker = celery_worker("fair", env, log_dir, concurrency=1)
    api_settings = Settings(redis_url=server.url, instance=instance)
    running = Runner(
        create_app(api_settings).test_client(),
        redis.Redis.from_url(server.url),
        celery_app(api_settings),
        worker,
        busy=[],
        katas=[],
    )
    host = Host.connect(Settings(instance=instance))
    try:
        wait_for(lambda: running.api.get("/readyz").status_code == 200, 60, "the worker ready")
        made = []
        for _ in range(BUSY_KATAS):
            made.append(running.new_kata())
            kata_id = running.katas[-1]
            avatar = {"image_name": SHELL, "starting_files": {}}
            made.append(running.submit("PUT", f"/katas/{kata_id}/avatars/lion", avatar))
            running.busy.append(kata_id)
        running.ended(*made)
        yield running
        running.ended(*[running.submit("DELETE", f"/katas/{k}", {}) for k in running.katas])
        left = leftovers(host)
        assert left == {"containers": [], "volumes": [], "disks": []}, left
    finally:
        worker.stop()
        clear(host)
        running.celery.close()
        server.stop()


def started_between(jobs: list[dict[str, str]], after: str, before: str) -> int:
    """How many of the jobs started after one time and before another (ISO, one clock)."""
    return sum(1 for job in jobs if after < job["started_at"] < before)


def test_a_new_kata_s_first_job_starts_before_the_busy_katas_queued_runs(runner: Runner) -> None:
    busy = runner.load()
    new, *runs = runner.ended(runner.new_kata(), *busy)
    # Only what was left of the batch running when it came went first; every continuation of
    # the other busy katas, queued before it, started after it.
    assert started_between(runs, new["submitted_at"], new["started_at"]) < BATCH
    behind = [r for r in runs if r["submitted_at"] < new["submitted_at"] < r["started_at"]]
    assert len(behind) >= (BUSY_KATAS - 1) * BATCH


def test_a_reaper_pass_is_taken_before_the_queued_continuations(runner: Runner) -> None:
    busy = runner.load()
    sent_at = now_iso()
    send_reap(runner.celery, "local")
    runs = runner.ended(*busy)
    wait_for(lambda: reaped_at(runner.worker.log_path, sent_at) is not None, 60, "a reaper pass")
    reaped = reaped_at(runner.worker.log_path, sent_at)
    assert reaped is not None
    assert started_between(runs, sent_at, reaped) < BATCH
    assert started_between(runs, reaped, "9999") >= (BUSY_KATAS - 1) * BATCH


def test_the_sweep_fails_an_orphan_while_the_only_worker_process_is_busy(runner: Runner) -> None:
    busy = runner.load()
    # A job in flight with no lease: its holder died. Only the sweep ends it.
    kata_id, job_id = new_kata_id(), f"j_orphan{secrets.token_hex(6)}"
    runner.redis.hset(keys.job(job_id), mapping={"state": "running", "kata_id": kata_id})
    runner.redis.rpush(keys.inflight(kata_id), job_id)
    runner.redis.sadd(keys.ACTIVE, kata_id)
    wait_for(lambda: runner.job(job_id)["state"] == "failed", 60, "the orphan failed")
    orphan = runner.job(job_id)
    runs = runner.ended(*busy)
    assert json.loads(orphan["error"])["code"] == "worker_lost"
    # The sweep ended it while the busy katas' runs were still queued, not after them.
    assert started_between(runs, orphan["finished_at"], "9999") > 0
    runner.redis.srem(keys.ACTIVE, kata_id)


def test_a_kata_placed_anew_is_woken_on_its_new_host_at_once(redis_client: redis.Redis) -> None:
    jobs = jobs_on(redis_client)
    heartbeat(redis_client, "a")
    assert jobs.submit("new_kata", "Kata0001", None, NEW).host == "a"
    # Its continuation waits on host a's queues when a is lost: no worker of b will see it.
    redis_client.set(keys.woken("Kata0001"), HANDED_BACK, ex=HANDED_BACK_TTL_S)
    silent_for(redis_client, "a", LOST_S + 1)
    heartbeat(redis_client, "b")
    again = jobs.submit("new_kata", "Kata0001", None, NEW)
    assert again.host == "b" and again.wake


def reaped_at(log_path: Path, after: str) -> str | None:
    """When the worker logged the end of a reaper pass, after a time; None before it did."""
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = str(entry.get("message", ""))
        if message.startswith("reaper: {") and str(entry.get("time", "")) > after:
            return str(entry["time"])
    return None
