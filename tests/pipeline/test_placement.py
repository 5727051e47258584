"""Placement, pinning and a lost host, as Redis decides them (the submit and sweep scripts)."""

from __future__ import annotations

import json

import redis

from runner import keys
from runner.clock import now_iso
from runner.jobs import Jobs
from runner.mailbox import Mailbox
from runner.models import NewKata, PullImage, Run
from worker.sweep import sweep

RUN = Run(image_name="cyber-dojo-local/shell")
NEW = NewKata(image_name="cyber-dojo-local/shell")
LOST_S = 60.0


def jobs_on(client: redis.Redis) -> Jobs:
    return Jobs(
        client, client, job_ttl_s=60, max_queued=1000, kata_max_queued=100, host_lost_s=LOST_S
    )


def mailbox_of(client: redis.Redis, host: str) -> Mailbox:
    return Mailbox(client, lease_ttl_s=30, job_ttl_s=60, host_name=host, host_lost_s=LOST_S)


def heartbeat(client: redis.Redis, *hosts: str) -> None:
    for host in hosts:
        mailbox_of(client, host).hosts.seen()


def silent_for(client: redis.Redis, host: str, seconds: float) -> None:
    """The host's latest heartbeat was seconds ago."""
    now_s, micros = client.time()
    client.zadd(keys.HOSTS_SEEN, {host: now_s + micros / 1e6 - seconds})


def test_new_katas_go_to_the_live_host_with_the_fewest_katas(redis_client: redis.Redis) -> None:
    jobs = jobs_on(redis_client)
    heartbeat(redis_client, "a", "b")
    placed = [jobs.submit("new_kata", f"Kata{i:04}", None, NEW).host for i in range(10)]
    assert sorted(placed) == ["a"] * 5 + ["b"] * 5
    assert jobs.kata("Kata0000")["host"] == placed[0]  # type: ignore[index]


def test_a_kata_s_later_jobs_go_to_its_host(redis_client: redis.Redis) -> None:
    jobs = jobs_on(redis_client)
    heartbeat(redis_client, "a")
    assert jobs.submit("new_kata", "Kata0001", None, NEW).host == "a"
    heartbeat(redis_client, "b")
    for _ in range(3):
        assert jobs.submit("run", "Kata0001", "lion", RUN).host == "a"
    assert int(redis_client.get(keys.host_queued("a")) or 0) == 4


def test_a_draining_host_gets_no_new_kata_and_keeps_its_own(redis_client: redis.Redis) -> None:
    jobs = jobs_on(redis_client)
    heartbeat(redis_client, "a")
    jobs.submit("new_kata", "Kata0001", None, NEW)
    heartbeat(redis_client, "b")
    redis_client.sadd(keys.HOSTS_DRAINING, "b")
    assert {jobs.submit("new_kata", f"Kata1{i:03}", None, NEW).host for i in range(5)} == {"a"}
    redis_client.sadd(keys.HOSTS_DRAINING, "a")
    redis_client.srem(keys.HOSTS_DRAINING, "b")
    assert jobs.submit("run", "Kata0001", "lion", RUN).host == "a"


def test_a_lost_host_s_kata_fails_host_lost_and_a_put_places_it_anew(
    redis_client: redis.Redis,
) -> None:
    jobs = jobs_on(redis_client)
    heartbeat(redis_client, "a")
    jobs.submit("new_kata", "Kata0001", None, NEW)
    heartbeat(redis_client, "b")
    silent_for(redis_client, "a", LOST_S + 1)
    ended = jobs.submit("run", "Kata0001", "lion", RUN)
    assert ended.lost and not ended.wake and ended.answer()["state"] == "failed"
    job = jobs.get(ended.job_id)
    assert job is not None and job["state"] == "failed" and job["error"]["code"] == "host_lost"
    assert jobs.submit("new_kata", "Kata0001", None, NEW).host == "b"
    assert jobs.submit("run", "Kata0001", "lion", RUN).host == "b"
    assert redis_client.zscore(keys.HOSTS_KATAS, "a") == 0


def test_the_sweep_ends_a_lost_host_s_queued_and_running_jobs(redis_client: redis.Redis) -> None:
    jobs = jobs_on(redis_client)
    heartbeat(redis_client, "a", "b")
    on_a = jobs.submit("new_kata", "Kata0001", None, NEW)
    on_b = jobs.submit("new_kata", "Kata0002", None, NEW)
    assert (on_a.host, on_b.host) == ("a", "b")
    a = mailbox_of(redis_client, "a")
    lease = a.acquire("Kata0001", "w@a:1")
    assert lease is not None and a.take(lease, now_iso()) == on_a.job_id
    queued = jobs.submit("run", "Kata0001", "lion", RUN).job_id
    silent_for(redis_client, "a", LOST_S + 1)
    woken: list[str] = []
    counts = sweep(mailbox_of(redis_client, "b"), woken.append)
    assert counts["host_lost"] == 2
    for job_id in (on_a.job_id, queued):
        job = jobs.get(job_id)
        assert job is not None and job["state"] == "failed" and job["error"]["code"] == "host_lost"
    # The lost holder cannot record over it, and b's kata waits for b's workers as before.
    assert not a.finish(
        lease, on_a.job_id, state="done", now=now_iso(), result="", error="", kata_effect=""
    )
    assert jobs.get(on_b.job_id)["state"] == "queued"  # type: ignore[index]
    assert int(redis_client.get(keys.QUEUED) or 0) == 1
    assert int(redis_client.get(keys.host_queued("a")) or 0) == 0


def test_a_worker_takes_no_job_of_a_kata_placed_on_another_host(
    redis_client: redis.Redis,
) -> None:
    jobs = jobs_on(redis_client)
    heartbeat(redis_client, "b")
    jobs.submit("new_kata", "Kata0001", None, NEW)
    a = mailbox_of(redis_client, "a")
    lease = a.acquire("Kata0001", "w@a:1")
    assert lease is not None and a.take(lease, now_iso()) is None
    a.release(lease)
    b = mailbox_of(redis_client, "b")
    lease = b.acquire("Kata0001", "w@b:1")
    assert lease is not None and b.take(lease, now_iso()) is not None


PULL = PullImage(image_name="cyber-dojo-local/shell")


def end_pull(client: redis.Redis, host: str, result: str, error: str = "") -> None:
    """Host's worker takes its pull job and records its end."""
    mailbox = mailbox_of(client, host)
    lease = mailbox.acquire(keys.images_queue(host), f"w@{host}:1")
    assert lease is not None
    job_id = mailbox.take(lease, now_iso())
    assert job_id is not None
    state = "failed" if error else "done"
    mailbox.finish(
        lease, job_id, state=state, now=now_iso(), result=result, error=error, kata_effect=""
    )
    mailbox.release(lease)


def test_a_pull_runs_on_every_live_host_and_says_what_each_holds(
    redis_client: redis.Redis,
) -> None:
    jobs = jobs_on(redis_client)
    heartbeat(redis_client, "a", "b")
    pull = jobs.submit_pull(PULL)
    assert sorted(pull.wakes()) == [(keys.images_queue("a"), "a"), (keys.images_queue("b"), "b")]
    pulled = json.dumps({"image_name": PULL.image_name, "digest": "sha256:1"})
    end_pull(redis_client, "a", pulled)
    assert jobs.get(pull.job_id)["state"] == "running"  # type: ignore[index]
    end_pull(redis_client, "b", "", json.dumps({"code": "image_not_found", "message": "no"}))
    job = jobs.get(pull.job_id)
    assert job is not None and job["state"] == "done" and job["kata_id"] is None
    assert job["result"] == {
        "image_name": PULL.image_name,
        "digest": "sha256:1",
        "hosts": {
            "a": {"state": "done", "digest": "sha256:1"},
            "b": {"state": "failed", "error": {"code": "image_not_found", "message": "no"}},
        },
    }
    assert redis_client.zscore(keys.HOSTS_KATAS, "a") is None  # a pull places no kata


def test_a_pull_fails_when_no_host_pulled_and_a_lost_host_ends_its_part(
    redis_client: redis.Redis,
) -> None:
    jobs = jobs_on(redis_client)
    heartbeat(redis_client, "a", "b")
    pull = jobs.submit_pull(PULL)
    end_pull(redis_client, "a", "", json.dumps({"code": "image_not_found", "message": "no"}))
    silent_for(redis_client, "b", LOST_S + 1)
    sweep(mailbox_of(redis_client, "a"), lambda kata_id: None)
    job = jobs.get(pull.job_id)
    assert job is not None and job["state"] == "failed"
    assert job["error"]["code"] == "image_not_found"
