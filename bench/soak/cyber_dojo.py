"""The soak's cyber-dojo stream: /run_cyber_dojo_sh calls beside the load, as a web server
makes them. Start-point-like runs of three language images (a bats lambda the Ruby judge
judges, a python lambda the translator translates, a gcc image's own lambda) made red, amber
and green; hostile runs; a canary that must see what a fresh run sees. Each call, synchronous,
is recorded as a `Sent` of role `cyber_dojo` whose job record is made from its answer, so that
the tally judges it with the rest.
"""

from __future__ import annotations

import functools
import itertools
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from bench.soak.load import submit, wait
from bench.soak.payloads import CANARY, FORGE, SHELL
from bench.soak.tally import CYBER_DOJO, FAULT_CODES, Expected, Sent
from client import RunnerClient
from runner.identifiers import cyber_dojo_sandbox

BATS = "cyber-dojo-local/bash-bats:latest"
PYTHON_ASSERT = "cyber-dojo-local/python-assert:latest"
GCC = "cyber-dojo-local/gcc-assert:latest"
IMAGES = (BATS, PYTHON_ASSERT, GCC, "cyber-dojo-local/ruby-judge:latest")
SUMS = {"red": "6 * 9", "amber": "6 * 9sd", "green": "6 * 7"}
# Each image's files, `{sum}` where the sum goes: red, amber or green by its image's lambda.
FILES = {
    BATS: {
        "cyber-dojo.sh": "chmod 700 *.sh\n./test_*.sh\n",
        "test_sum.sh": '#!/usr/bin/env bats\n\n@test "the sum" {{\n  [ $(({sum})) == 42 ]\n}}\n',
    },
    PYTHON_ASSERT: {
        "cyber-dojo.sh": "python3 test_sum.py\n",
        "test_sum.py": "assert {sum} == 42\nprint('All tests passed')\n",
    },
    GCC: {
        "cyber-dojo.sh": "gcc -Wall -Werror -o sum sum.c\n./sum\n",
        "sum.c": (
            "#include <assert.h>\n#include <stdio.h>\n\nint main(void)\n{{\n"
            '    assert({sum} == 42);\n    puts("All tests passed");\n    return 0;\n}}\n'
        ),
    },
}


@dataclass(frozen=True)
class Call:
    """One call of the stream: its kind, image, files, time and the outcome it must have
    (None: any)."""

    kind: str
    image: str
    files: dict[str, str]
    max_seconds: int = 10
    outcome: str | None = None


def calls() -> list[Call]:
    """Every kind of call, in the order the stream cycles through them."""
    coloured = [
        Call(f"{image.split('/')[1].split(':')[0]} {colour}", image, files(image, sum_), 10, colour)
        for image in FILES
        for colour, sum_ in SUMS.items()
    ]
    hostile = [
        Call("forged report", SHELL, {"cyber-dojo.sh": f"{FORGE}\nexit 1\n"}, 5, "red"),
        Call("kill everything", SHELL, {"cyber-dojo.sh": "kill -9 -1\nexit 1\n"}, 5, "red"),
        Call("fork bomb", SHELL, {"cyber-dojo.sh": "bomb() { bomb | bomb & }; bomb; sleep 2\n"}),
        Call("output flood", SHELL, {"cyber-dojo.sh": "yes\n"}, 2, "timed_out"),
        Call("canary", SHELL, {"cyber-dojo.sh": CANARY}, 5),
    ]
    return coloured + hostile


def files(image: str, sum_: str) -> dict[str, str]:
    return {name: text.format(sum=sum_) for name, text in FILES[image].items()}


def new_id() -> str:
    """A cyber-dojo id: 6 characters of [0-9A-Za-z]."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class CyberDojoLoad:
    """A thread of calls through the protocol, over a few ids, until told to stop."""

    url: str
    stopping: threading.Event
    ids: list[str] = field(default_factory=lambda: [new_id() for _ in range(4)])
    sent: list[Sent] = field(default_factory=list)
    canary: Expected | None = None  # what the canary sees in a fresh run

    def baseline(self) -> None:
        """The canary's answer in a fresh run, before any fault or load."""
        answer = self._post(self.ids[0], calls()[-1])
        self.canary = Expected(answer["stdout"]["content"], answer["outcome"])

    def run(self, until: float) -> None:
        for call, cyber_dojo_id in zip(itertools.cycle(calls()), itertools.cycle(self.ids)):
            if time.time() >= until or self.stopping.is_set():
                return
            self.sent.append(self._call(cyber_dojo_id, call))

    def finish(self, until: float) -> None:
        """Reads back, until `until`, the job of each call answered before its job ended
        (`faulty`, "did not end the run within"): the job itself must still end, and right."""
        with RunnerClient(self.url, retries=0) as client:
            for one in self.sent:
                log = ((one.job or {}).get("result") or {}).get("log") or {}
                if one.role == CYBER_DOJO and late(log):
                    one.job_id, one.late = str(log["job_id"]), True
                    wait(client, one, until)

    def delete(self, until: float) -> None:
        """DELETEs the katas the ids ran in, each recorded and waited for."""
        with RunnerClient(self.url, retries=0) as client:
            for cyber_dojo_id in self.ids:
                kata_id = cyber_dojo_sandbox(cyber_dojo_id)[0]
                one = Sent(kata_id, "", "delete", "delete", "", time.time())
                self.sent.append(one)
                submit(one, functools.partial(client.old_kata, kata_id))
                wait(client, one, until)

    def _call(self, cyber_dojo_id: str, call: Call) -> Sent:
        expect = ("outcome", call.outcome) if call.outcome else None
        one = Sent(cyber_dojo_id, "", CYBER_DOJO, call.kind, call.image, time.time(), expect=expect)
        try:
            answer = self._post(cyber_dojo_id, call)
        except requests.HTTPError as error:  # the protocol's exception answer
            one.outcome, one.detail = "refused", refusal(error.response)
        except requests.ConnectionError as error:
            refused = "Connection refused" in str(error)
            one.outcome = "refused" if refused else "unknown"
            one.detail = "connection refused" if refused else type(error).__name__
        except (requests.RequestException, ValueError, KeyError) as error:
            one.outcome, one.detail = "unknown", f"{type(error).__name__}: {error}"
        else:
            one.outcome, one.job = "accepted", record(answer, one.sent_at, time.time())
            return one
        # Not answered: when it ended tells whether a fault was under way meanwhile.
        one.detail, one.job = one.detail[:200], {"finished_at": iso(time.time())}
        time.sleep(0.5)
        return one

    def _post(self, cyber_dojo_id: str, call: Call) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": cyber_dojo_id,
            "files": call.files,
            "manifest": {"image_name": call.image, "max_seconds": call.max_seconds},
        }
        answer = requests.post(f"{self.url}/run_cyber_dojo_sh", json=body, timeout=120)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()["run_cyber_dojo_sh"]
        return result


def refusal(answer: requests.Response | None) -> str:
    """The status and message of the protocol's exception answer (its body echoes the
    request, left out)."""
    if answer is None:
        return "no answer"
    try:
        message = answer.json()["exception"]["message"]
    except (ValueError, KeyError, TypeError):
        message = answer.text
    return f"{answer.status_code} {message}"


def late(log: dict[str, Any]) -> bool:
    """Whether a faulty answer's log says the job had not ended when the call stopped waiting."""
    return "job_id" in log and "did not end the run within" in str(log.get("reason", ""))


def record(answer: dict[str, Any], sent_at: float, answered_at: float) -> dict[str, Any]:
    """A job record of the answer, as the tally reads one: failed with its code when the run
    did not run for a fault's reason, else done with the answer as its result."""
    times = {"submitted_at": iso(sent_at), "finished_at": iso(answered_at)}
    code = str((answer.get("log") or {}).get("code", ""))
    if answer.get("outcome") == "faulty" and code in FAULT_CODES:
        message = str(answer["log"].get("message", ""))
        return {"state": "failed", "error": {"code": code, "message": message}, **times}
    return {"state": "done", "result": answer, **times}
