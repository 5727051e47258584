"""A run's result from what the agent reported."""

from __future__ import annotations

import json
from typing import Any

from sandbox.report import Frames
from sandbox.results import run_result
from traffic_lights.rules import parse_rules

RULES = parse_rules(
    {"rules": [{"colour": "green", "status": [0]}, {"colour": "red", "status": [1]}]}
)


def result(frames: Frames, **given: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "exit_code": 0,
        "killed": False,
        "oom_killed": False,
        "elapsed_ms": 99,
        "rules": RULES,
        "output_bytes": 5,
        "file_bytes": 4,
        "max_created": 2,
        "max_changed": 3,
        "result_bytes": 1024 * 1024,
    }
    options.update(given)
    return dict(run_result(frames, **options))


def test_a_reported_run_is_judged_by_the_rules() -> None:
    r = result(Frames(status=1, duration_ms=12, stdout=b"abcdefg", stderr=b"e"))
    assert r["colour"] == "red" and r["status"] == 1 and r["duration_ms"] == 12
    assert r["stdout"] == {"content": "abcde", "truncated": True}
    assert r["stderr"] == {"content": "e", "truncated": False}


class Verdicts:
    """A Judge that gives one verdict and counts how often it was asked."""

    def __init__(self, colour: str, reason: str | None = None) -> None:
        self.given, self.asked = (colour, reason), 0

    def verdict(self, stdout: str, stderr: str, status: int) -> tuple[str, str | None]:
        self.asked += 1
        return self.given


def test_a_judge_colours_the_run_and_a_faulty_verdict_gives_its_reason() -> None:
    assert result(Frames(status=1), rules=Verdicts("amber"))["colour"] == "amber"
    faulty = result(Frames(status=1), rules=Verdicts("faulty", "the lambda raised"))
    assert (faulty["colour"], faulty["faulty_reason"]) == ("faulty", "the lambda raised")


def test_a_run_that_timed_out_is_not_judged() -> None:
    judge = Verdicts("red")
    assert result(Frames(status=137, timed_out=True), rules=judge)["colour"] == "timed_out"
    assert judge.asked == 0


def test_timed_out_wins_over_the_rules() -> None:
    r = result(Frames(status=137, timed_out=True))
    assert (r["colour"], r["timed_out"], r["status"]) == ("timed_out", True, 137)


def test_a_run_killed_by_the_runner_is_timed_out_with_status_137() -> None:
    r = result(Frames(), killed=True, exit_code=0)
    assert (r["colour"], r["timed_out"], r["status"], r["duration_ms"]) == (
        "timed_out",
        True,
        137,
        99,
    )


def test_a_run_script_that_could_not_report_is_faulty_with_the_container_status() -> None:
    r = result(Frames(), exit_code=137)
    assert (r["colour"], r["status"]) == ("faulty", 137)


def test_no_rules_is_faulty() -> None:
    assert result(Frames(status=0), rules=None)["colour"] == "faulty"


def test_only_text_files_return_capped_and_created_at_most_max_sorted() -> None:
    frames = Frames(
        status=0,
        created={
            b"c.txt": b"c",
            b"a.txt": b"aaaaa",
            b"bin": b"\0\1",
            b"b.txt": b"b",
            b"\xff": b"x",
        },
        changed={b"z.txt": b"zz", b"img": b"\x89PNG\xff"},
        deleted=[b"y", b"x", b"\xfe"],
    )
    r = result(frames)
    assert r["created"] == {
        "a.txt": {"content": "aaaa", "truncated": True},
        "b.txt": {"content": "b", "truncated": False},
    }
    assert r["changed"] == {"z.txt": {"content": "zz", "truncated": False}}
    assert r["deleted"] == ["x", "y"]
    assert r["files_truncated"] is True  # c.txt was left out


def test_changed_files_are_bounded_in_count_and_say_so() -> None:
    frames = Frames(status=0, changed={f"{n:04}.txt".encode(): b"x" for n in range(1000)})
    r = result(frames)
    assert list(r["changed"]) == ["0000.txt", "0001.txt", "0002.txt"]
    assert r["files_truncated"] is True
    assert result(Frames(status=0, changed={b"a": b"x"}))["files_truncated"] is False


def test_the_whole_result_is_bounded_in_json_bytes_escapes_counted() -> None:
    # A control byte is six bytes of JSON: 4 of them are 24 of the budget, not 4.
    escaped = b"\x01" * 4
    frames = Frames(
        status=0,
        stdout=b"o",
        changed={b"a.txt": b"\x01\x01\x01\x01", b"b.txt": b"\x01\x01\x01\x01"},
        created={b"c.txt": b"c"},
    )
    one_file = len(json.dumps({"a.txt": {"content": escaped.decode(), "truncated": False}}))
    outputs = len(json.dumps({"content": "o", "truncated": False})) + len(
        json.dumps({"content": "", "truncated": False})
    )
    r = result(frames, file_bytes=100, result_bytes=outputs + one_file + 5)
    assert list(r["changed"]) == ["a.txt"] and r["created"] == {}
    assert r["files_truncated"] is True
    stored = json.dumps(r["stdout"]) + json.dumps(r["stderr"]) + json.dumps(r["changed"])
    assert len(stored) <= outputs + one_file + 5


def test_a_whole_report_needs_no_exit_code_from_the_engine() -> None:
    r = result(Frames(status=1, duration_ms=5, oom_kills=0), exit_code=None)
    assert (r["colour"], r["status"], r["duration_ms"]) == ("red", 1, 5)


def test_too_many_files_is_passed_on_and_the_run_judged_as_usual() -> None:
    r = result(Frames(status=1, too_many_files=True))
    assert (r["too_many_files"], r["colour"]) == (True, "red")
    assert result(Frames(status=1))["too_many_files"] is False


def test_the_files_not_written_are_listed_sorted_and_the_run_judged_as_usual() -> None:
    r = result(Frames(status=0, unwritten=[b"ro/new.txt", b"a\nb", b"bad\xff", b"dir"]))
    assert (r["unwritten"], r["colour"]) == (["a\nb", "dir", "ro/new.txt"], "green")
    assert result(Frames(status=1))["unwritten"] == []


def test_a_fault_of_the_run_scripts_own_work_is_faulty_with_its_reason() -> None:
    r = result(Frames(status=1, stdout=b"out", faults=[b"keeping stderr"]))
    assert r["colour"] == "faulty" and r["status"] == 1
    assert r["faulty_reason"] == "the agent's own work failed: keeping stderr"
    timed_out = result(Frames(status=137, timed_out=True, faults=[b"mkfifo"]))
    assert (timed_out["colour"], timed_out["timed_out"]) == ("faulty", True)


def test_every_faulty_run_says_why_and_no_other_does() -> None:
    assert result(Frames(), exit_code=90)["faulty_reason"] == ("the agent did not report (exit 90)")
    assert result(Frames(status=0), rules=None)["faulty_reason"] == (
        "the image has no usable colour rules"
    )
    assert result(Frames(status=0))["faulty_reason"] is None
    assert result(Frames(status=137, timed_out=True), rules=None)["faulty_reason"] is None
