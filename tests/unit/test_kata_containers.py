"""A host's live kata containers over the stub engine and a real Redis: one per kata and
image, idle ones removed, the least recently used evicted, each removal under the lease."""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.services import free_port
from runner.mailbox import Mailbox
from runner.models import Job, Run
from runner.settings import Settings
from sandbox import agent, runs
from sandbox.engine import ContainerSpec, Image, Outcome
from sandbox.host import FENCE_LABEL, ROLE_LABEL, Host
from sandbox.kata_containers import IMAGE_LABEL, LIVE_ROLE, KataContainers
from sandbox.report import Frames
from sandbox.stub_engine import StubEngine, ran

SHELL_ID = "sha256:shell"


@pytest.fixture
def engine() -> StubEngine:
    stub = StubEngine()
    stub.images["cyber-dojo-local/shell:latest"] = Image(SHELL_ID, {})
    stub.images["other:latest"] = Image("sha256:other", {})
    return stub


@pytest.fixture
def live(engine: StubEngine, redis_client: redis.Redis) -> KataContainers:
    host = Host(Settings(instance="stub", max_live_katas=3), engine)
    woken: list[str] = []
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    return KataContainers(host, mailbox, woken.append)


def spec(live: KataContainers, kata_id: str, image: str = SHELL_ID) -> ContainerSpec:
    return ContainerSpec(
        image=image,
        command=["true"],
        user="40000:5000",
        name=f"run-{kata_id}",
        labels=live.host.labels(kata_id, "run", fence="7"),
        binds={live.host.volume_name(kata_id): {"bind": "/sandboxes", "mode": "rw"}},
        limits={},
    )


def live_ids(engine: StubEngine) -> set[str]:
    return {c.id for c, _ in engine.containers_.values() if c.labels.get(ROLE_LABEL) == LIVE_ROLE}


def test_a_kata_gets_one_container_per_image_made_once(
    live: KataContainers, engine: StubEngine
) -> None:
    first, made = live.container_for("Kata0001", spec(live, "Kata0001"))
    assert made is True
    assert live.container_for("Kata0001", spec(live, "Kata0001")) == (first, False)
    live.forget("Kata0001")  # another process of the host finds it again by its labels
    assert live.container_for("Kata0001", spec(live, "Kata0001")) == (first, False)
    labels = engine.containers_[first][0].labels
    assert (labels[ROLE_LABEL], labels[IMAGE_LABEL], labels[FENCE_LABEL]) == (
        LIVE_ROLE,
        SHELL_ID,
        "7",
    )
    other, made = live.container_for("Kata0001", spec(live, "Kata0001", "sha256:other"))
    assert made is True and live_ids(engine) == {other}  # the image changed: replaced


def test_idle_containers_go_and_recent_ones_stay(live: KataContainers, engine: StubEngine) -> None:
    live.container_for("Kata0001", spec(live, "Kata0001"))
    assert live.book is not None
    live.book.used_live("Kata0001", 1000.0)
    recent, _ = live.container_for("Kata0002", spec(live, "Kata0002"))
    live.book.used_live("Kata0002", 1900.0)
    assert live.remove_idle(300, now=2000.0) == 1
    assert live_ids(engine) == {recent}
    assert live.book.live_katas() == ["Kata0002"]


def test_a_busy_katas_container_is_not_removed_when_idle(
    live: KataContainers, engine: StubEngine
) -> None:
    busy, _ = live.container_for("Kata0001", spec(live, "Kata0001"))
    assert live.book is not None
    live.book.used_live("Kata0001", 1000.0)
    lease = live.book.acquire("Kata0001", "a-worker")  # a run is in it
    assert lease is not None
    assert live.remove_idle(300, now=2000.0) == 0
    assert live_ids(engine) == {busy}
    live.book.release(lease)


def test_past_the_most_live_katas_the_least_recently_used_is_evicted(
    live: KataContainers, engine: StubEngine
) -> None:
    assert live.book is not None
    made = {}
    for n, kata_id in enumerate(["Kata0001", "Kata0002", "Kata0003"]):
        made[kata_id], _ = live.container_for(kata_id, spec(live, kata_id))
        live.book.used_live(kata_id, 1000.0 + n)
    newest, _ = live.container_for("Kata0004", spec(live, "Kata0004"))
    assert live_ids(engine) == {made["Kata0002"], made["Kata0003"], newest}
    assert "Kata0001" not in live.book.live_katas()


def clean_answer() -> Frames:
    return Frames(status=0, oom_kills=0, left_clean=True)


def answered(container_id: str, *, killed: bool = False) -> Outcome:
    return Outcome(None, b"", b"", None, killed=killed, elapsed_s=0.1, container_id=container_id)


@pytest.mark.parametrize(
    ("answer", "killed", "kept"),
    [
        (clean_answer(), False, True),
        (Frames(status=0, oom_kills=0, dirty=[b"tasks:3"]), False, False),  # the agent's doubt
        (clean_answer(), True, False),  # no whole answer in time
        (Frames(status=0, oom_kills=0, left_clean=True, timed_out=True), False, False),
        (Frames(status=0, oom_kills=1, left_clean=True), False, False),
        (Frames(status=0, oom_kills=0, left_clean=True, faults=[b"helper"]), False, False),
        (Frames(status=None, oom_kills=0, left_clean=True), False, False),  # not whole
    ],
)
def test_only_a_whole_clean_answer_keeps_the_container(
    live: KataContainers, engine: StubEngine, answer: Frames, killed: bool, kept: bool
) -> None:
    container_id, _ = live.container_for("Kata0001", spec(live, "Kata0001"))
    job = Job("Kata0001", Run(image_name="cyber-dojo-local/shell:latest"), "lion")
    runs._keep_or_remove(live, job, answered(container_id, killed=killed), answer)
    assert (container_id in live_ids(engine)) is kept


def test_a_run_into_a_container_another_process_removed_runs_in_a_new_one(
    live: KataContainers, engine: StubEngine
) -> None:
    engine.behave = ran(0, b"hi")
    first, _ = live.container_for("Kata0001", spec(live, "Kata0001"))
    KataContainers(live.host).remove("Kata0001", "idle")  # another worker process
    nonce = agent.nonce()
    request = agent.look(nonce)
    outcome, frames = runs._in_live(
        live.host, "Kata0001", spec(live, "Kata0001"), request, nonce, 5.0, live
    )
    assert outcome.container_id in live_ids(engine) and outcome.container_id != first
    assert [c for c, _ in engine.asked] == [outcome.container_id]
    assert (frames.whole, frames.stdout, frames.left_clean) == (True, b"hi", True)


def test_a_look_is_the_agents_answer(live: KataContainers, engine: StubEngine) -> None:
    engine.behave = ran(clean=False)
    container_id, _ = live.container_for("Kata0001", spec(live, "Kata0001"))
    seen = live.look(container_id)
    assert (seen.left_clean, seen.dirty) == (False, [b"tasks:3"])


def test_a_container_of_another_agent_is_replaced(live: KataContainers, engine: StubEngine) -> None:
    older = engine.add_container(
        {**live.host.labels("Kata0001", LIVE_ROLE, fence="3"), IMAGE_LABEL: SHELL_ID}
    )
    made, is_new = live.container_for("Kata0001", spec(live, "Kata0001"))
    assert is_new and made != older and live_ids(engine) == {made}


def test_a_redis_that_does_not_answer_fails_no_run(engine: StubEngine) -> None:
    # Bookkeeping only: the job's end waits for Redis, the run does not.
    away = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))  # refused at once
    live = KataContainers(
        Host(Settings(instance="stub"), engine), Mailbox(away, lease_ttl_s=30, job_ttl_s=60)
    )
    made, _ = live.container_for("Kata0001", spec(live, "Kata0001"))  # no room made: no count
    live.used("Kata0001")
    live.remove("Kata0001", "abnormal_run")
    live.dropped("Kata0001")
    assert made not in live_ids(engine)
