"""The drain and the reaper's container logic over the stub engine and a real Redis: fast.

What a container does is the stub's `behave`; what is checked is the logic above the seam:
order, fences, what is removed and what is kept, what is recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from reaper.expiry import Records
from reaper.index import KataIndex
from reaper.reaping import Report, reap_kata, remove_leaked_containers
from runner import keys
from runner.clock import now_iso
from runner.jobs import Jobs
from runner.mailbox import Lease, Mailbox
from runner.models import NewAvatar, NewKata, OldKata, Run
from runner.settings import Settings
from sandbox import agent
from sandbox.engine import ContainerSpec, Image, Outcome
from sandbox.host import FENCE_LABEL, JOB_LABEL, ROLE_LABEL, Host
from sandbox.images import Images
from sandbox.ruby_judge import JUDGE_ROLE
from sandbox.stub_engine import StubEngine, ran
from traffic_lights.rules import COLOUR_RULES_LABEL
from worker.drain import Context, drain, remove_older_fences

KATA = "Kata0007"
SHELL = "cyber-dojo-local/shell:latest"
GREEN = '{"rules": [{"colour": "red", "status": [1]}], "otherwise": "green"}'


def scripted(spec: ContainerSpec, stdin: bytes) -> Outcome:
    """Admin steps succeed; a run's agent answers with status 0 and the container's name."""
    if spec.command[-1] == "once":
        return ran(0, f"ran {spec.name}".encode())(spec, stdin)
    return Outcome(0, b"", b"", False, killed=False, elapsed_s=0.01)


@pytest.fixture
def engine() -> StubEngine:
    stub = StubEngine(behave=scripted)
    stub.images[SHELL] = Image("sha256:shell", {COLOUR_RULES_LABEL: GREEN})
    return stub


@pytest.fixture
def ctx(engine: StubEngine, redis_client: redis.Redis) -> Context:
    host = Host(Settings(instance="stub"), engine)
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    return Context(host, Images(engine), mailbox, wake=lambda kata_id: None, holder="w@stub:1")


@pytest.fixture
def jobs(redis_client: redis.Redis) -> Jobs:
    return Jobs(redis_client, redis_client, job_ttl_s=60, max_queued=100, kata_max_queued=100)


def test_a_drain_runs_the_katas_jobs_in_order_and_records_each(
    ctx: Context, jobs: Jobs, engine: StubEngine
) -> None:
    submitted = [
        jobs.submit("new_kata", KATA, None, NewKata(image_name=SHELL)),
        jobs.submit("new_avatar", KATA, "lion", NewAvatar(image_name=SHELL, starting_files={})),
        *(
            jobs.submit("run", KATA, "lion", Run(image_name=SHELL, changed_files={"n": str(n)}))
            for n in range(3)
        ),
    ]
    assert drain(ctx, KATA) == 5
    ended = [jobs.get(s.job_id) for s in submitted]
    assert [job["state"] for job in ended if job] == ["done"] * 5
    runs = [spec for spec in engine.ran if spec.command[-1] == "once"]
    assert [spec.labels[JOB_LABEL] for spec in runs] == [s.job_id for s in submitted[2:]]
    # Every container of a job carries its fence; a disk's (the kata's, not a job's) none.
    fences = {
        spec.labels.get(FENCE_LABEL)
        for spec in engine.ran
        if spec.command[0] == agent.AGENT  # not a disk's, nor the agent's install
    }
    assert fences == {"1"}
    assert ended[2] and ended[2]["result"]["stdout"]["content"] == f"ran {runs[0].name}"
    record = jobs.kata(KATA)
    assert record is not None and record["run_at"] == ended[4]["finished_at"]  # type: ignore[index]
    assert ctx.mailbox.holder(KATA) is None and KATA not in ctx.mailbox.active_katas()


def test_a_stored_request_is_parsed_again_and_a_bad_one_fails_its_job_alone(
    ctx: Context, jobs: Jobs, redis_client: redis.Redis
) -> None:
    bad = jobs.submit("run", KATA, "lion", Run(image_name=SHELL))
    redis_client.hset(keys.job(bad.job_id), "payload", '{"image_name": 42}')
    good = jobs.submit("old_kata", KATA, None, OldKata())
    assert drain(ctx, KATA) == 2
    failed = jobs.get(bad.job_id)
    assert failed is not None and failed["error"]["code"] == "invalid_request"
    assert jobs.get(good.job_id)["state"] == "done"  # type: ignore[index]


def test_a_new_holder_removes_only_the_containers_of_older_fences(ctx: Context) -> None:
    labels = ctx.host.labels(KATA, "run")
    lost = ctx.host.engine.add_container({**labels, FENCE_LABEL: "3"})  # type: ignore[attr-defined]
    own = ctx.host.engine.add_container({**labels, FENCE_LABEL: "4"})  # type: ignore[attr-defined]
    other = ctx.host.engine.add_container(  # type: ignore[attr-defined]
        {**ctx.host.labels("Kata0008", "run"), FENCE_LABEL: "1"}
    )
    assert remove_older_fences(ctx.host, KATA, fence=4) == 1
    left = {c.id for c in ctx.host.engine.containers(ctx.host.ours())}
    assert left == {own, other} and lost not in left


def test_old_kata_removes_whatever_mounts_the_volume_then_the_volume(
    ctx: Context, engine: StubEngine
) -> None:
    volume = ctx.host.volume_name(KATA)
    engine.create_volume(volume, ctx.host.labels(KATA, "kata"))
    foreign = engine.add_container({"someone": "else"}, mounts=(volume,))
    from runner.models import Job
    from sandbox import operations

    assert operations.old_kata(ctx.host, ctx.images, Job(KATA, OldKata())) == {}
    assert engine.volume(volume) is None and foreign in engine.removed


def test_the_reaper_removes_old_containers_of_no_running_job_and_keeps_the_rest(
    ctx: Context, jobs: Jobs, engine: StubEngine
) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    old = now.timestamp() - 3600
    running = jobs.submit("run", KATA, "lion", Run(image_name=SHELL))
    lease = ctx.mailbox.acquire(KATA, "w@stub:2")
    assert lease is not None and ctx.mailbox.take(lease, now_iso()) == running.job_id
    crashed = engine.add_container(ctx.host.labels(KATA, "run", job_id="j_gone"), created=old)
    alive = engine.add_container(ctx.host.labels(KATA, "run", job_id=running.job_id), created=old)
    young = engine.add_container(
        ctx.host.labels(KATA, "run", job_id="j_new"), created=now.timestamp()
    )
    # A worker's Ruby judge serves it for long, and ends itself when idle.
    judge = engine.add_container({**ctx.host.ours(), ROLE_LABEL: JUDGE_ROLE}, created=old)
    report = Report()
    remove_leaked_containers(ctx, now, report, dry_run=False)
    assert report.containers_removed == 1 and engine.removed == [crashed]
    assert {c.id for c in engine.containers(ctx.host.ours())} == {alive, young, judge}


def test_the_reaper_decides_again_under_the_lease(
    ctx: Context, engine: StubEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    long_ago = datetime(2026, 11, 1, tzinfo=UTC)
    index = KataIndex(ctx.mailbox.redis)
    engine.create_volume(ctx.host.volume_name(KATA), ctx.host.labels(KATA, "kata"))
    index.touch(KATA, Records(hello_at=now_iso(long_ago)), long_ago)
    acquire = ctx.mailbox.acquire

    def a_run_ends_first(kata_id: str, holder: str) -> Lease | None:
        index.touch(kata_id, Records(run_at=now_iso(now)), now)  # as a job's finish does
        return acquire(kata_id, holder)

    monkeypatch.setattr(ctx.mailbox, "acquire", a_run_ends_first)
    report = Report()
    reap_kata(ctx, index, KATA, now, timedelta(days=7), report, dry_run=False)
    assert report.deleted == 0
    assert engine.volume(ctx.host.volume_name(KATA)) is not None
    assert ctx.mailbox.holder(KATA) is None
