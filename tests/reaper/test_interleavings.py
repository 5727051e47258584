"""Property: no interleaving of reaping with runs loses a run or deletes a volume under a
running container. The lease interplay runs on a real Redis; the volume is a fake."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reaper import reaping
from reaper.expiry import Records
from reaper.index import KataIndex
from runner.clock import now_iso
from runner.jobs import Jobs
from runner.mailbox import Lease, Mailbox
from runner.models import Run
from tests.reaper.conftest import NOW

KATA = "Kata0001"
LONG_AGO = NOW - timedelta(days=30)


class FakeHost:
    """Just enough of a Host for reap_kata: a volume that exists or not."""

    def __init__(self) -> None:
        self.volume = True
        self.running = False
        self.deleted_under_a_run = False


def make_machine(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> type[RuleBasedStateMachine]:
    class ReapingWithRuns(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            client.flushdb()
            self.host = FakeHost()
            self.jobs = Jobs(client, client, job_ttl_s=3600, max_queued=1000, kata_max_queued=128)
            self.mailbox = Mailbox(client, lease_ttl_s=60, job_ttl_s=3600)
            self.index = KataIndex(client)
            self.submitted: list[str] = []
            self.lease: Lease | None = None
            self.current: str | None = None
            self.woken = 0

            def old_kata(host: Any, images: Any, job: Any) -> dict[str, object]:
                if self.host.running:
                    self.host.deleted_under_a_run = True
                self.host.volume = False
                return {}

            monkeypatch.setattr(reaping.operations, "old_kata", old_kata)
            self.ctx = reaping.Context(
                host=self.host,  # type: ignore[arg-type]
                images=None,  # type: ignore[arg-type]
                mailbox=self.mailbox,
                wake=self.wake,
            )
            self.index.touch(KATA, Records(hello_at=now_iso(LONG_AGO)), LONG_AGO)

        def wake(self, kata_id: str) -> None:
            self.woken += 1

        @rule()
        def submit_a_run(self) -> None:
            self.submitted.append(
                self.jobs.submit(
                    "run", KATA, "lion", Run(image_name="cyber-dojo-local/shell")
                ).job_id
            )

        @rule()
        def put_the_kata_again(self) -> None:
            self.host.volume = True
            self.index.touch(KATA, Records(hello_at=now_iso(LONG_AGO)), LONG_AGO)

        @precondition(lambda self: self.lease is None)
        @rule()
        def worker_takes_the_lease(self) -> None:
            self.lease = self.mailbox.acquire(KATA, "worker")

        @precondition(lambda self: self.lease is not None and self.current is None)
        @rule()
        def worker_starts_the_next_job(self) -> None:
            assert self.lease is not None
            self.current = self.mailbox.take(self.lease, now_iso())
            self.host.running = self.current is not None

        @precondition(lambda self: self.current is not None)
        @rule()
        def worker_finishes_the_job(self) -> None:
            assert self.lease is not None and self.current is not None
            state = "done" if self.host.volume else "failed"
            error = "" if self.host.volume else '{"code": "kata_not_found", "message": ""}'
            assert self.mailbox.finish(
                self.lease,
                self.current,
                state=state,
                now=now_iso(),
                result="{}" if state == "done" else "",
                error=error,
                kata_effect="",
            )
            self.current = None
            self.host.running = False

        @precondition(lambda self: self.lease is not None and self.current is None)
        @rule()
        def worker_lets_go(self) -> None:
            assert self.lease is not None
            if self.mailbox.release(self.lease):
                self.wake(KATA)
            self.lease = None

        @rule()
        def reaper_passes(self) -> None:
            report = reaping.Report()
            reaping.reap_kata(self.ctx, self.index, KATA, NOW, timedelta(days=7), report, False)

        @invariant()
        def no_volume_deleted_under_a_run(self) -> None:
            assert not self.host.deleted_under_a_run

        def teardown(self) -> None:
            # Drain what is left, as the next drains would, then no job may be lost.
            if self.current is not None:
                self.worker_finishes_the_job()
            if self.lease is None:
                self.lease = self.mailbox.acquire(KATA, "worker")
            assert self.lease is not None
            while (job_id := self.mailbox.take(self.lease, now_iso())) is not None:
                self.current = job_id
                self.worker_finishes_the_job()
            self.mailbox.release(self.lease)
            states = [self.jobs.get(job_id)["state"] for job_id in self.submitted]  # type: ignore[index]
            assert all(state in ("done", "failed") for state in states), states

    return ReapingWithRuns


def test_reaping_never_loses_a_run_nor_deletes_under_one(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = make_machine(redis_client, monkeypatch)
    machine.TestCase.settings = settings(
        max_examples=150,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    machine.TestCase().runTest()
