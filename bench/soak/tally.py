"""What the soak counts, from what it sent and the job records it read back: pure, no I/O.

Every submission is a `Sent`. Once the load has drained, `tally` judges each one:

- lost: accepted (a 202 with a job id) and never ended, or its record vanished;
- wrong: ended in a way the runner's contract forbids (an `internal` failure, a failure of a
  fault's code far from any fault, an honest run or a canary whose result is not the expected
  one, a hostile run that escaped its own limit), or not accepted far from any fault;
- out_of_order: a job of a kata that started before an earlier accepted one had finished, or
  an honest run that saw the file of a later run;
- fault-failed: failed with a fault's code (worker_lost, docker_unavailable, host_lost), having
  run while a fault was under way or within FAULT_GRACE_S of its recovery: allowed, counted
  apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bench.soak.payloads import listed_seqs

Outcome = Literal["accepted", "refused", "unknown"]  # unknown: the answer was lost
CYBER_DOJO = "cyber_dojo"  # the role of a /run_cyber_dojo_sh call, and its canary's key
FAULT_CODES = frozenset({"worker_lost", "docker_unavailable", "host_lost"})
# A job lost to a worker ends after the lease TTL (30 s) and the sweep (5 s); one that met a
# stopped engine, at most a job's time after it is back.
FAULT_GRACE_S = 60.0
# What a canary's line that a fresh kata does not print says it saw, by its start.
SEEN = (
    ("process ", "a foreign process"),
    ("/tmp/", "files in /tmp"),
    ("/dev/shm/", "files in /dev/shm"),
    ("/dev/mqueue/", "message queues"),
    ("/proc/sysvipc/", "System V IPC objects"),
)


@dataclass
class Sent:
    """One submission: who sent what, and the job's last record read (None: not read)."""

    kata_id: str
    avatar: str
    role: str  # kata, avatar, honest, hostile, canary, delete, cyber_dojo
    kind: str  # the hostile kind, else the role
    image: str
    sent_at: float  # wall-clock time of the submission
    outcome: Outcome = "unknown"
    job_id: str = ""
    seq: int = 0  # an honest run's sequence number
    expect: tuple[str, object] | None = None  # what a hostile run's result must show
    job: dict[str, Any] | None = None
    vanished: bool = False  # the API answered job_not_found
    late: bool = False  # a cyber-dojo call answered before its job ended: the job read back
    detail: str = ""  # why it was not accepted

    def where(self) -> str:
        avatar = f"/{self.avatar}" if self.avatar else ""
        return f"{self.kind} {self.kata_id}{avatar} {self.job_id or '(no job)'}"

    @property
    def state(self) -> str:
        return str(self.job["state"]) if self.job else "unknown"

    @property
    def code(self) -> str:
        error = (self.job or {}).get("error") or {}
        return str(error.get("code", ""))


@dataclass(frozen=True)
class Fault:
    """A fault injected: what, when it began and when the service was whole again."""

    name: str
    at: float
    recovered_at: float
    detail: str = ""


@dataclass(frozen=True)
class Expected:
    """A fresh kata's canary result for an image: every canary of the image must match it."""

    stdout: str
    colour: str


@dataclass(frozen=True)
class Problem:
    """A lost, wrong or out-of-order job: what kind of problem (its count's key), which job,
    and what was seen."""

    what: str
    where: str
    detail: str = ""


@dataclass
class Tally:
    """The counts the soak prints, each problem with its job."""

    accepted: int = 0
    not_accepted: Counter[str] = field(default_factory=Counter)
    done: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    fault_failed: Counter[str] = field(default_factory=Counter)
    lost: list[Problem] = field(default_factory=list)
    wrong: list[Problem] = field(default_factory=list)
    out_of_order: list[Problem] = field(default_factory=list)
    canaries: int = 0
    hostile: Counter[str] = field(default_factory=Counter)
    cyber_dojo: Counter[str] = field(default_factory=Counter)  # protocol calls by kind
    cyber_dojo_late: int = 0  # calls answered before their job ended (the job judged)
    latencies_s: dict[str, list[float]] = field(default_factory=dict)

    def problems(self) -> int:
        return len(self.lost) + len(self.wrong) + len(self.out_of_order)


def seconds(iso: str | None) -> float | None:
    """A record's ISO-8601 time as epoch seconds."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


def near_fault(sent: Sent, faults: Sequence[Fault]) -> bool:
    """Whether the job ran (or, never started, waited) while a fault was under way or within
    FAULT_GRACE_S of its recovery."""
    job = sent.job or {}
    began = seconds(job.get("started_at")) or sent.sent_at
    ended = seconds(job.get("finished_at")) or began
    return any(began <= f.recovered_at + FAULT_GRACE_S and ended >= f.at - 1 for f in faults)


def tally(sent: Iterable[Sent], expected: dict[str, Expected], faults: Sequence[Fault]) -> Tally:
    """Judges every submission; `expected` holds the canary's answer per image."""
    found = Tally()
    by_kata: dict[str, list[Sent]] = {}
    by_avatar: dict[tuple[str, str], list[Sent]] = {}
    for one in sent:
        if one.role == "honest":
            by_avatar.setdefault((one.kata_id, one.avatar), []).append(one)
        if one.outcome != "accepted":
            found.not_accepted[f"{one.outcome}: {one.detail}"] += 1
            if not near_fault(one, faults):
                what = f"{one.role} not accepted: {one.outcome}: {one.detail}"
                found.wrong.append(Problem(what, one.where()))
            continue
        found.accepted += 1
        by_kata.setdefault(one.kata_id, []).append(one)
        judge(one, expected, faults, found)
    for jobs in by_kata.values():
        found.out_of_order += overlaps(jobs)
    for runs in by_avatar.values():
        wrong, reordered = sequence_problems(runs)
        found.wrong += wrong
        found.out_of_order += reordered
    return found


def judge(one: Sent, expected: dict[str, Expected], faults: Sequence[Fault], found: Tally) -> None:
    """Counts one accepted job: its end, and what its own result must show."""
    where = one.where()
    if one.vanished or one.state not in ("done", "failed"):
        state = "vanished" if one.vanished else f"still {one.state}"
        found.lost.append(Problem(f"{one.role} {state}", where))
        return
    job = one.job or {}
    if one.state == "failed":
        found.failed[one.code] += 1
        if one.code in FAULT_CODES and near_fault(one, faults):
            found.fault_failed[one.code] += 1
        else:
            message = str((job.get("error") or {}).get("message", ""))
            what = f"{one.role} failed {one.code}: {shape(message)}"
            found.wrong.append(Problem(what, where, message[:200]))
        return
    found.done += 1
    started, ended = seconds(job.get("submitted_at")), seconds(job.get("finished_at"))
    if started is not None and ended is not None:
        found.latencies_s.setdefault(one.role, []).append(ended - started)
    result = job.get("result") or {}
    if one.role == "hostile":
        found.hostile[one.kind] += 1
        if one.expect and result.get(one.expect[0]) != one.expect[1]:
            key, value = one.expect
            found.wrong.append(Problem(f"hostile {one.kind}: {key} not {value}", where))
    elif one.role == "canary":
        found.canaries += 1
        want = expected.get(one.image)
        seen = Expected(str((result.get("stdout") or {}).get("content")), str(result.get("colour")))
        if want is not None and seen != want:
            what, detail = canary_difference(want, seen)
            found.wrong.append(Problem(f"canary {one.kind}: {what}", where, detail))
    elif one.role == CYBER_DOJO:
        judge_cyber_dojo(one, result, expected.get(CYBER_DOJO), faults, found)
    elif one.role == "honest":
        what, detail = honest_problem(result)
        if what:
            found.wrong.append(Problem(f"honest run {what}", where, detail))


def judge_cyber_dojo(
    one: Sent,
    result: dict[str, Any],
    canary: Expected | None,
    faults: Sequence[Fault],
    found: Tally,
) -> None:
    """Counts a /run_cyber_dojo_sh answer: the outcome its call must have (a run made faulty
    by a fault under way is allowed), and a canary's sight."""
    found.cyber_dojo[one.kind] += 1
    found.cyber_dojo_late += one.late
    # The answer's outcome; of a late call, its job's colour, read back through the API.
    outcome = str(result.get("outcome", result.get("colour")))
    stdout = str((result.get("stdout") or {}).get("content", ""))
    if outcome == "faulty" and near_fault(one, faults):
        found.fault_failed["faulty (cyber-dojo)"] += 1
    elif one.expect and outcome != one.expect[1]:
        said = str(result.get("log") or "") + " " + stdout[-120:]
        found.wrong.append(Problem(f"cyber-dojo {one.kind}: {outcome}", one.where(), said))
    elif one.kind == "canary" and canary is not None:
        seen = Expected(stdout, outcome)
        if seen != canary:
            what, detail = canary_difference(canary, seen)
            found.wrong.append(Problem(f"cyber-dojo canary: {what}", one.where(), detail))


def shape(message: str) -> str:
    """A message with its ids and numbers blurred, to count messages of one kind together."""
    return re.sub(r"[0-9a-f]{6,}|\d+", "#", message)[:70]


def honest_problem(result: dict[str, Any]) -> tuple[str, str]:
    """What is wrong with an honest run's own result, and what it said (('', ''): nothing)."""
    said = str(result.get("faulty_reason") or (result.get("stderr") or {}).get("content", ""))
    if result.get("timed_out"):
        return "timed out", said[:200]
    if result.get("colour") != "green":
        return f"{result.get('colour')}: {shape(said)}", said[:200]
    if result.get("unwritten"):
        return "with unwritten files", str(result["unwritten"])
    return "", ""


def canary_difference(want: Expected, seen: Expected) -> tuple[str, str]:
    """What a canary saw that a fresh kata does not see (or missed), and the lines."""
    if seen.colour != want.colour:
        return f"{seen.colour}, not {want.colour}", seen.stdout[:200]
    extra = sorted(set(seen.stdout.splitlines()) - set(want.stdout.splitlines()))
    missing = sorted(set(want.stdout.splitlines()) - set(seen.stdout.splitlines()))
    kinds = sorted(
        {next((k for start, k in SEEN if line.startswith(start)), "other") for line in extra}
    )
    what = "saw " + ", ".join(kinds) if kinds else "missed lines"
    return what, f"extra {extra[:6]}, missing {missing[:6]}"


def overlaps(jobs: Sequence[Sent]) -> list[Problem]:
    """Done jobs of one kata, in the order accepted, that started before an earlier done one
    finished: jobs of a kata run one at a time, in order."""
    problems = []
    last_end: float | None = None
    for one in jobs:
        if one.state != "done" or one.job is None:
            continue
        started, ended = seconds(one.job.get("started_at")), seconds(one.job.get("finished_at"))
        if started is None or ended is None:
            continue
        if last_end is not None and started < last_end:
            detail = f"started {last_end - started:.3f} s before an earlier job ended"
            problems.append(Problem("a kata's job started early", one.where(), detail))
        last_end = ended if last_end is None else max(last_end, ended)
    return problems


def sequence_problems(runs: Sequence[Sent]) -> tuple[list[Problem], list[Problem]]:
    """An avatar's honest runs, in the order sent: (wrong, out of order).

    A done run's listing must hold its own file and every earlier done run's; it may hold an
    earlier run's that failed or whose answer was lost (it may have written it), never a file
    of a run that was refused or of a later run."""
    wrong: list[Problem] = []
    reordered: list[Problem] = []
    for index, run in enumerate(runs):
        if run.state != "done" or run.job is None:
            continue
        where = f"{run.where()} seq {run.seq}"
        stdout = str(((run.job.get("result") or {}).get("stdout") or {}).get("content", ""))
        listed = listed_seqs(stdout)
        if listed is None:
            wrong.append(Problem("honest run listed no files", where, stdout[:120]))
            continue
        seen = set(listed)
        earlier = runs[:index]
        must = {r.seq for r in earlier if r.state == "done"} | {run.seq}
        never = {r.seq for r in earlier if r.outcome == "refused"}
        if later := sorted(n for n in seen if n > run.seq):
            reordered.append(Problem("honest run saw a later run's file", where, str(later[:5])))
        if missing := sorted(must - seen):
            wrong.append(
                Problem("honest run missed an earlier run's file", where, str(missing[:5]))
            )
        if refused := sorted(seen & never):
            wrong.append(Problem("honest run saw a refused run's file", where, str(refused[:5])))
    return wrong, reordered
