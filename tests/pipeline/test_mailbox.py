"""The mailbox's atomic steps on a real Redis: take in order, record the end, let go."""

from __future__ import annotations

import redis

from harness.services import wait_for
from runner import keys
from runner.clock import epoch, now_iso
from runner.jobs import Jobs
from runner.mailbox import Mailbox
from runner.models import Run

KATA = "Kata0042"
RUN = Run(image_name="cyber-dojo-local/shell")


def test_a_job_taken_and_finished_updates_its_record_the_kata_and_the_index(
    redis_client: redis.Redis,
) -> None:
    jobs = Jobs(redis_client, redis_client, job_ttl_s=60, max_queued=10, kata_max_queued=10)
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    first = jobs.submit("run", KATA, "lion", RUN).job_id
    second = jobs.submit("run", KATA, "lion", RUN).job_id
    lease = mailbox.acquire(KATA, "w@host:1")
    assert lease is not None and mailbox.acquire(KATA, "w@host:2") is None

    assert mailbox.take(lease, now_iso()) == first
    ended = now_iso()
    assert mailbox.finish(
        lease, first, state="done", now=ended, result="{}", error="", kata_effect="run_at"
    )
    assert jobs.get(first)["state"] == "done"  # type: ignore[index]
    assert jobs.kata(KATA)["run_at"] == ended  # type: ignore[index]
    assert redis_client.zscore(keys.SEEN, KATA) == epoch(ended)

    assert mailbox.release(lease) == 1  # the second job still waits
    assert mailbox.holder(KATA) is None
    again = mailbox.acquire(KATA, "w@host:1")
    assert again is not None and again.fence == lease.fence + 1
    assert mailbox.take(again, now_iso()) == second
    assert mailbox.finish(
        again, second, state="done", now=now_iso(), result="{}", error="", kata_effect="forget"
    )
    assert mailbox.release(again) == 0
    assert redis_client.zscore(keys.SEEN, KATA) is None
    assert jobs.kata(KATA) is None
    assert KATA not in mailbox.active_katas()


def test_a_holder_that_lost_its_lease_cannot_take_or_record(redis_client: redis.Redis) -> None:
    jobs = Jobs(redis_client, redis_client, job_ttl_s=60, max_queued=10, kata_max_queued=10)
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    job_id = jobs.submit("run", KATA, "lion", RUN).job_id
    lease = mailbox.acquire(KATA, "w@host:1")
    assert lease is not None
    assert mailbox.take(lease, now_iso()) == job_id
    redis_client.delete(keys.lease(KATA))  # it expired
    successor = mailbox.acquire(KATA, "w@host:2")
    assert successor is not None
    assert not mailbox.finish(
        lease, job_id, state="done", now=now_iso(), result="{}", error="", kata_effect="run_at"
    )
    assert mailbox.fail_orphans(KATA, now_iso(), successor) == 1
    assert jobs.get(job_id)["error"]["code"] == "worker_lost"  # type: ignore[index]


def test_only_a_clean_release_by_the_holder_spares_its_successor_the_container_search(
    redis_client: redis.Redis,
) -> None:
    jobs = Jobs(redis_client, redis_client, job_ttl_s=60, max_queued=10, kata_max_queued=10)
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    assert not mailbox.clear_woken_and_has_work(KATA)
    jobs.submit("run", KATA, "lion", RUN)
    assert mailbox.clear_woken_and_has_work(KATA)

    first = mailbox.acquire(KATA, "w@host:1")
    assert first is not None and not first.after_clean
    mailbox.release(first, clean=True)
    second = mailbox.acquire(KATA, "w@host:1")
    assert second is not None and second.after_clean
    mailbox.release(second)  # not clean: a job may have left a container
    third = mailbox.acquire(KATA, "w@host:1")
    assert third is not None and not third.after_clean

    redis_client.delete(keys.lease(KATA))  # third's lease expired
    fourth = mailbox.acquire(KATA, "w@host:2")
    assert fourth is not None
    mailbox.release(third, clean=True)  # too late: it no longer holds the lease
    mailbox.release(fourth)
    fifth = mailbox.acquire(KATA, "w@host:2")
    assert fifth is not None and not fifth.after_clean

    assert mailbox.take(fifth, now_iso()) is not None
    assert mailbox.clear_woken_and_has_work(KATA)  # in flight: an orphan if its holder died
    assert mailbox.fail_orphans(KATA, now_iso(), fifth) == 1
    mailbox.release(fifth, clean=True)
    assert not mailbox.clear_woken_and_has_work(KATA)

    sixth = mailbox.acquire(KATA, "w@host:3")
    assert sixth is not None
    redis_client.delete(keys.lease(KATA))  # its holder died: the lease expired
    assert mailbox.clear_woken_and_has_work(KATA)  # nothing queued, but its containers may be left


def test_the_run_time_is_due_once_per_interval_for_the_whole_service(
    redis_client: redis.Redis,
) -> None:
    one = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    other = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)  # another worker process
    assert one.run_at_due(KATA, 60)
    assert not one.run_at_due(KATA, 60) and not other.run_at_due(KATA, 60)
    assert other.run_at_due("Kata0043", 60)  # per kata
    assert one.run_at_due(KATA, 0) and one.run_at_due(KATA, 0)  # 0: every run


def test_the_run_time_is_due_again_once_its_interval_has_passed(redis_client: redis.Redis) -> None:
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    assert mailbox.run_at_due(KATA, 0.2)
    wait_for(lambda: mailbox.run_at_due(KATA, 0.2), 10, "the run time due again")
