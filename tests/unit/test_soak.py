"""The soak's counting: what is lost, wrong, out of order, or allowed around a fault."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bench.soak.cyber_dojo import record
from bench.soak.payloads import SHELL, listed_seqs, seq_name
from bench.soak.tally import (
    CYBER_DOJO,
    Expected,
    Fault,
    Sent,
    near_fault,
    overlaps,
    sequence_problems,
    tally,
)

T0 = 1_800_000_000.0
FRESH = Expected("process 0 sh\ncyber-dojo.sh\ncanary\n", "green")


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job(
    state: str = "done",
    at: float = T0,
    took: float = 1.0,
    result: dict[str, Any] | None = None,
    code: str = "",
) -> dict[str, Any]:
    return {
        "state": state,
        "submitted_at": iso(at),
        "started_at": iso(at),
        "finished_at": iso(at + took),
        "result": result if state == "done" else None,
        "error": {"code": code, "message": f"{code} happened"} if code else None,
    }


def listing(*seqs: int) -> dict[str, Any]:
    line = " ".join(f"{n:06d}" for n in seqs)
    return {"stdout": {"content": f"{line} \n"}, "colour": "green", "timed_out": False}


def honest(seq: int, seen: tuple[int, ...] | None, state: str = "done", **more: Any) -> Sent:
    """An honest run of lion, seq; seen: its listing (None: no record read)."""
    record = job(state, at=T0 + seq, result=listing(*seen or ()), code=more.pop("code", ""))
    one = Sent("k1", "lion", "honest", "honest", SHELL, T0 + seq, "accepted", f"j{seq}", seq)
    one.job = record if seen is not None or state != "done" else None
    for key, value in more.items():
        setattr(one, key, value)
    return one


def test_a_listing_is_read_from_the_first_line() -> None:
    assert seq_name(7) == "seq/000007"
    assert listed_seqs("000001 000002 \n.  [100%]\n1 passed in 0.01s\n") == [1, 2]
    assert listed_seqs(" \n") == []
    assert listed_seqs("ls: seq: No such file\n") is None


def test_runs_that_saw_every_earlier_file_are_in_order() -> None:
    runs = [honest(1, (1,)), honest(2, (1, 2)), honest(3, (1, 2, 3))]
    assert sequence_problems(runs) == ([], [])


def test_a_missing_file_of_an_earlier_done_run_is_wrong() -> None:
    wrong, reordered = sequence_problems([honest(1, (1,)), honest(2, (2,))])
    assert [p.what for p in wrong] == ["honest run missed an earlier run's file"]
    assert reordered == []


def test_the_file_of_a_later_run_is_out_of_order() -> None:
    wrong, reordered = sequence_problems([honest(1, (1, 2)), honest(2, (1, 2))])
    assert wrong == []
    assert [p.what for p in reordered] == ["honest run saw a later run's file"]


@pytest.mark.parametrize("seen", [(1, 3), (1, 2, 3)])
def test_an_earlier_failed_run_may_or_may_not_have_written_its_file(seen: tuple[int, ...]) -> None:
    runs = [honest(1, (1,)), honest(2, None, "failed", code="worker_lost"), honest(3, seen)]
    assert sequence_problems(runs) == ([], [])


def test_a_refused_run_never_wrote_its_file() -> None:
    refused = honest(2, None, outcome="refused")
    wrong, _ = sequence_problems([honest(1, (1,)), refused, honest(3, (1, 2, 3))])
    assert [p.what for p in wrong] == ["honest run saw a refused run's file"]
    assert sequence_problems([honest(1, (1,)), refused, honest(3, (1, 3))]) == ([], [])


def test_a_kata_job_that_started_before_an_earlier_one_ended_is_out_of_order() -> None:
    first, second = honest(1, (1,)), honest(2, (1, 2))
    assert first.job is not None and second.job is not None
    second.job["started_at"] = iso(T0 + 1.5)  # the first ends at T0 + 2
    assert [p.what for p in overlaps([first, second])] == ["a kata's job started early"]
    assert overlaps([honest(1, (1,)), honest(3, (1, 3))]) == []


@pytest.mark.parametrize(
    ("started", "near"),
    [(T0 - 5, True), (T0 + 30, True), (T0 + 100, False), (T0 - 50, False)],
)
def test_a_fault_covers_the_jobs_that_ran_while_it_lasted_and_a_grace_after(
    started: float, near: bool
) -> None:
    fault = Fault("Redis", T0, T0 + 3)
    one = honest(1, None, "failed", code="worker_lost")
    one.job = job("failed", at=started, took=10, code="worker_lost")
    assert near_fault(one, [fault]) is near


def test_a_fault_code_near_a_fault_is_allowed_and_anything_else_failed_is_wrong() -> None:
    fault = Fault("celery child", T0, T0 + 1)
    lost_to_fault = honest(1, None, "failed", code="worker_lost")
    far_from_it = honest(200, None, "failed", code="worker_lost")
    internal = honest(2, None, "failed", code="internal")
    found = tally([lost_to_fault, far_from_it, internal], {}, [fault])
    assert found.failed == {"worker_lost": 2, "internal": 1}
    assert found.fault_failed == {"worker_lost": 1}
    assert sorted(p.what for p in found.wrong) == [
        "honest failed internal: internal happened",
        "honest failed worker_lost: worker_lost happened",
    ]


def test_an_accepted_job_that_never_ended_or_vanished_is_lost() -> None:
    running = honest(1, None, "running")
    vanished = honest(2, (1, 2), vanished=True)
    found = tally([running, vanished], {}, [])
    assert [p.what for p in found.lost] == ["honest still running", "honest vanished"]
    assert found.accepted == 2


def test_a_submission_refused_near_a_fault_is_allowed_and_far_from_one_is_wrong() -> None:
    near = honest(1, None, outcome="refused", detail="connection refused")
    far = honest(200, None, outcome="refused", detail="500 internal")
    found = tally([near, far], {}, [Fault("API master", T0, T0 + 1)])
    assert found.accepted == 0 and found.lost == []
    assert found.not_accepted == {"refused: connection refused": 1, "refused: 500 internal": 1}
    assert [p.what for p in found.wrong] == ["honest not accepted: refused: 500 internal"]


def canary(stdout: str, colour: str = "green") -> Sent:
    one = Sent("k1", "bear", "canary", "after forged_report", SHELL, T0, "accepted", "jc")
    one.job = job(result={"stdout": {"content": stdout}, "colour": colour})
    return one


@pytest.mark.parametrize(
    ("stdout", "colour", "what"),
    [
        (FRESH.stdout, "green", None),
        (
            "process 0 sh\nprocess 40002 sleep\ncyber-dojo.sh\ncanary\n",
            "green",
            "a foreign process",
        ),
        (FRESH.stdout + "/tmp/left\n/dev/shm/left\n", "green", "files in /dev/shm, files in /tmp"),
        (FRESH.stdout + "/proc/sysvipc/shm: 0 0 600\n", "green", "System V IPC objects"),
        ("", "faulty", None),
    ],
)
def test_a_canary_must_see_what_a_fresh_kata_sees(
    stdout: str, colour: str, what: str | None
) -> None:
    found = tally([canary(stdout, colour)], {SHELL: FRESH}, [])
    assert found.canaries == 1
    if colour != FRESH.colour:
        assert [p.what for p in found.wrong] == ["canary after forged_report: faulty, not green"]
    elif what is None:
        assert found.wrong == []
    else:
        assert [p.what for p in found.wrong] == [f"canary after forged_report: saw {what}"]


def test_an_honest_run_that_timed_out_or_was_faulty_is_wrong() -> None:
    timed_out = honest(1, (1,))
    faulty = honest(2, (1, 2))
    assert timed_out.job is not None and faulty.job is not None
    timed_out.job["result"].update(timed_out=True, colour="timed_out")
    faulty.job["result"].update(colour="faulty", faulty_reason="keeping stdout failed")
    found = tally([timed_out, faulty], {}, [])
    assert [p.what for p in found.wrong] == [
        "honest run timed out",
        "honest run faulty: keeping stdout failed",
    ]


def test_a_hostile_run_must_show_what_its_kind_expects() -> None:
    hog = Sent("k1", "bat", "hostile", "memory_hog", SHELL, T0, "accepted", "jh")
    hog.expect = ("oom_killed", True)
    hog.job = job(result={"oom_killed": False})
    found = tally([hog], {}, [])
    assert found.hostile == {"memory_hog": 1}
    assert [p.what for p in found.wrong] == ["hostile memory_hog: oom_killed not True"]


def cyber_dojo_call(
    kind: str, outcome: str, expect: str | None, at: float = T0, **answer: Any
) -> Sent:
    """A /run_cyber_dojo_sh call of the soak's cyber-dojo stream, answered so."""
    one = Sent("Ab12Cd", "", CYBER_DOJO, kind, SHELL, at, expect=expect and ("outcome", expect))
    said = {"outcome": outcome, "stdout": {"content": "canary\n"}, "log": {}, **answer}
    one.outcome, one.job = "accepted", record(said, at, at + 1)
    return one


def test_a_cyber_dojo_call_must_have_its_outcome_unless_a_fault_made_it_faulty() -> None:
    fault = Fault("docker engine", T0, T0 + 5)
    calls = [
        cyber_dojo_call("bats red", "red", "red"),
        cyber_dojo_call("bats green", "amber", "green", at=T0 + 500),
        cyber_dojo_call("bats amber", "faulty", "amber"),  # during the fault
        cyber_dojo_call("fork bomb", "amber", None, at=T0 + 500),
    ]
    found = tally(calls, {}, [fault])
    assert found.cyber_dojo == {"bats red": 1, "bats green": 1, "bats amber": 1, "fork bomb": 1}
    assert [p.what for p in found.wrong] == ["cyber-dojo bats green: amber"]
    assert found.fault_failed == {"faulty (cyber-dojo)": 1}


def test_a_cyber_dojo_run_that_a_fault_stopped_counts_as_failed_with_its_code() -> None:
    log = {"code": "docker_unavailable", "message": "the engine went"}
    failed = cyber_dojo_call("gcc red", "faulty", "red", log=log)
    assert failed.state == "failed" and failed.code == "docker_unavailable"
    found = tally([failed], {}, [Fault("docker engine", T0, T0 + 5)])
    assert found.fault_failed == {"docker_unavailable": 1} and found.wrong == []


def test_a_cyber_dojo_canary_must_see_what_a_fresh_run_sees() -> None:
    fresh = {CYBER_DOJO: Expected("canary\n", "green")}
    same = cyber_dojo_call("canary", "green", None)
    seeing = cyber_dojo_call("canary", "green", None, stdout={"content": "/tmp/left\ncanary\n"})
    found = tally([same, seeing], fresh, [])
    assert [p.what for p in found.wrong] == ["cyber-dojo canary: saw files in /tmp"]


def test_a_call_answered_before_its_job_ended_is_judged_by_the_job_read_back() -> None:
    late = cyber_dojo_call("bats green", "green", "green")
    late.late, late.job = True, job(result={"colour": "green", "stdout": {"content": ""}})
    wrong = cyber_dojo_call("bats red", "red", "red")
    wrong.late, wrong.job = True, job(result={"colour": "amber", "stdout": {"content": ""}})
    found = tally([late, wrong], {}, [])
    assert found.cyber_dojo_late == 2
    assert [p.what for p in found.wrong] == ["cyber-dojo bats red: amber"]


def test_a_call_unanswered_while_a_fault_began_is_allowed() -> None:
    one = Sent("Ab12Cd", "", CYBER_DOJO, "gcc red", SHELL, T0 - 20, "unknown", detail="boom")
    one.job = {"finished_at": iso(T0 + 1)}  # sent before the fault, failed during it
    assert tally([one], {}, [Fault("API master", T0, T0 + 3)]).wrong == []
    assert [p.what for p in tally([one], {}, []).wrong] == [
        "cyber_dojo not accepted: unknown: boom"
    ]
