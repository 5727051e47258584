"""Jobs over HTTP, through real Redis, Celery workers and Docker."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import redis

from harness.services import wait_for
from runner import keys
from sandbox.host import JOB_LABEL, Host
from tests.conftest import PYTHON, SHELL, new_kata_id
from tests.stack import LEASE_TTL_S, SWEEP_INTERVAL_S, Stack

UPTIME = "$(cut -d' ' -f1 /proc/uptime)"


def run_body(files: dict[str, str], image: str = SHELL, **more: object) -> dict[str, object]:
    return {"image_name": image, "changed_files": files, **more}


def test_a_kata_goes_red_to_green_over_http(stack: Stack, make_kata: Callable[..., str]) -> None:
    test = "from hiker import answer\n\ndef test_answer():\n    assert answer() == 42\n"
    kata = make_kata(
        PYTHON,
        {
            "lion": {
                "cyber-dojo.sh": "pytest -q",
                "test_hiker.py": test,
                "hiker.py": "def answer():\n    return 54\n",
            }
        },
    )
    path = f"/katas/{kata}/avatars/lion/runs"
    red = stack.done("POST", path, run_body({}, PYTHON))
    green = stack.done(
        "POST", path, run_body({"hiker.py": "def answer():\n    return 42\n"}, PYTHON)
    )
    assert red["result"]["colour"] == "red"
    assert green["result"]["colour"] == "green"
    assert green["kind"] == "run" and green["avatar_name"] == "lion" and green["error"] is None
    assert green["submitted_at"] <= green["started_at"] <= green["finished_at"]
    record = stack.call("GET", f"/katas/{kata}").json()
    assert record["hello_at"] and record["run_at"] and record["queued"] == 0


def test_runs_of_one_kata_run_in_order_and_never_overlap(
    stack: Stack, make_kata: Callable[..., str]
) -> None:
    script = (
        f'echo "$(cat seq) {UPTIME}" >> log; sleep 0.1; echo "$(cat seq) {UPTIME}" >> log\ncat log'
    )
    kata = make_kata(SHELL, {"lion": {"cyber-dojo.sh": script}})
    ids = [
        stack.submit("POST", f"/katas/{kata}/avatars/lion/runs", run_body({"seq": str(n)}))
        for n in range(20)
    ]
    jobs = [stack.wait(job_id) for job_id in ids]
    assert [job["state"] for job in jobs] == ["done"] * 20
    lines = [line.split() for line in jobs[-1]["result"]["stdout"]["content"].splitlines()]
    assert [int(seq) for seq, _ in lines] == [n for n in range(20) for _ in (0, 1)]
    times = [float(t) for _, t in lines]
    assert times == sorted(times), "a run started before the one before it ended"


def test_runs_of_two_katas_run_in_parallel(stack: Stack, make_kata: Callable[..., str]) -> None:
    script = f"echo {UPTIME}; sleep 2; echo {UPTIME}"
    katas = [make_kata(SHELL, {"lion": {"cyber-dojo.sh": script}}) for _ in range(2)]
    ids = [stack.submit("POST", f"/katas/{k}/avatars/lion/runs", run_body({})) for k in katas]
    (a_start, a_end), (b_start, b_end) = [
        map(float, stack.wait(i)["result"]["stdout"]["content"].split()) for i in ids
    ]
    assert a_start < b_end and b_start < a_end, "the two runs did not overlap"


def test_a_killed_worker_fails_its_job_with_worker_lost_and_the_kata_goes_on(
    stack: Stack, make_kata: Callable[..., str], host: Host
) -> None:
    kata = make_kata(SHELL, {"lion": {"cyber-dojo.sh": "sleep 20"}})
    r = redis.Redis.from_url(stack.redis.url)
    long_job = stack.submit(
        "POST", f"/katas/{kata}/avatars/lion/runs", run_body({}, max_seconds=20)
    )
    wait_for(
        lambda: stack.call("GET", f"/jobs/{long_job}").json()["state"] == "running",
        30,
        "the long job running",
    )
    holder = r.get(keys.lease(kata)).decode()  # host:pid:token
    killed_at = time.monotonic()
    os.kill(int(holder.split(":")[1]), signal.SIGKILL)

    job = stack.wait(long_job, wait_s=LEASE_TTL_S + SWEEP_INTERVAL_S + 5)
    assert time.monotonic() - killed_at < LEASE_TTL_S + SWEEP_INTERVAL_S + 5
    assert job["state"] == "failed"
    assert job["error"]["code"] == "worker_lost"
    assert job["result"] is None
    wait_for(  # no further job is needed: the sweep's wake-up removes the lost run's container
        lambda: host.engine.containers({JOB_LABEL: long_job}) == [],
        LEASE_TTL_S + SWEEP_INTERVAL_S + 5,
        "the lost run's container removed",
    )
    after = stack.done(
        "POST", f"/katas/{kata}/avatars/lion/runs", run_body({"cyber-dojo.sh": "echo after"})
    )
    assert after["result"]["stdout"]["content"] == "after\n"


def test_a_job_of_a_kata_never_created_fails_and_resuming_makes_the_next_succeed(
    stack: Stack,
) -> None:
    kata = new_kata_id()
    path = f"/katas/{kata}/avatars/lion/runs"
    failed = stack.wait(stack.submit("POST", path, run_body({"cyber-dojo.sh": "echo hi"})))
    assert failed["state"] == "failed" and failed["error"]["code"] == "kata_not_found"
    try:
        stack.done("PUT", f"/katas/{kata}", {"image_name": SHELL})
        no_avatar = stack.wait(stack.submit("POST", path, run_body({"cyber-dojo.sh": "echo hi"})))
        assert no_avatar["error"]["code"] == "avatar_not_found"
        stack.done(
            "PUT", f"/katas/{kata}/avatars/lion", {"image_name": SHELL, "starting_files": {}}
        )
        resumed = stack.done("POST", path, run_body({"cyber-dojo.sh": "echo hi"}))
        assert resumed["result"]["stdout"]["content"] == "hi\n"
    finally:
        stack.done("DELETE", f"/katas/{kata}")


def test_waiting_blocks_until_the_job_ends(stack: Stack, make_kata: Callable[..., str]) -> None:
    kata = make_kata(SHELL, {"lion": {"cyber-dojo.sh": "sleep 1; echo slept"}})
    job_id = stack.submit("POST", f"/katas/{kata}/avatars/lion/runs", run_body({}))
    answers: list[dict[str, object]] = []
    waiters = [
        threading.Thread(
            target=lambda: answers.append(stack.call("GET", f"/jobs/{job_id}?wait=20").json())
        )
        for _ in range(3)
    ]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    assert [a["state"] for a in answers] == ["done"] * 3
    quick = stack.call("GET", f"/jobs/{job_id}?wait=0").json()
    assert quick["state"] == "done"
