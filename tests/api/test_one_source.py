"""Each shape the outside sees has one source in the runner: job kinds and states
(runner/jobs.py), job error codes (runner/errors.py), cyber-dojo's calls, outcomes and
statuses (api/cyber_dojo.py). /openapi.json, docs/API.md, the client and cyber-dojo's protocol
agree with it, or these fail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from flask.testing import FlaskClient

from api import cyber_dojo
from client import client as runner_client
from client import shapes
from runner.errors import JOB_ERROR_CODES
from runner.jobs import ENDED, JOB_KINDS, JOB_STATES, AcceptedState
from traffic_lights.rules import TRAFFIC_LIGHTS
from worker.kinds import KINDS

API_MD = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text()
CYBER_DOJO_MD = API_MD[API_MD.index("## The cyber-dojo protocol") :]


def table(text: str, header: str) -> list[list[str]]:
    """The cells of each row of the table whose header line is header."""
    lines = text.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def ticked(cell: str) -> list[str]:
    """The backticked words of a cell."""
    return re.findall(r"`([a-z_]+)`", cell)


def alternatives(field: str) -> list[str]:
    """The values of API.md's job shown as `"field": "a | b | ..."`."""
    found = re.search(rf'"{field}": "([a-z_]+(?: \| [a-z_]+)+)"', API_MD)
    assert found, f"API.md shows a job's {field}s"
    return found.group(1).split(" | ")


def schemas(client: FlaskClient) -> dict[str, Any]:
    found: dict[str, Any] = client.get("/openapi.json").get_json()["components"]["schemas"]
    return found


def test_job_kinds_agree_with_the_jobs_module(client: FlaskClient) -> None:
    for model in ("Job", "Accepted"):
        assert schemas(client)[model]["properties"]["kind"]["enum"] == list(JOB_KINDS)
    assert alternatives("kind") == list(JOB_KINDS)
    jobs_table = table(API_MD, "| method and path | body | job kind | what the job does |")
    run = re.search(r"A run is a `([a-z_]+)` job", CYBER_DOJO_MD)
    assert run and run.group(1) == cyber_dojo.RUN_KIND
    native = [kind for row in jobs_table for kind in ticked(row[2])]
    assert sorted([*native, run.group(1)]) == sorted(JOB_KINDS)
    assert get_args(shapes.Kind) == JOB_KINDS
    assert sorted(KINDS) == sorted(JOB_KINDS), "the worker does every kind, and no other"


def test_job_error_codes_agree_with_the_error_tree(client: FlaskClient) -> None:
    assert schemas(client)["JobError"]["properties"]["code"]["enum"] == list(JOB_ERROR_CODES)
    codes = table(API_MD, "| code | meaning, and what a client does |")
    assert [code for row in codes for code in ticked(row[0])] == list(JOB_ERROR_CODES)
    assert get_args(shapes.ErrorCode) == JOB_ERROR_CODES


def test_job_states_agree_with_the_jobs_module(client: FlaskClient) -> None:
    assert schemas(client)["Job"]["properties"]["state"]["enum"] == list(JOB_STATES)
    assert alternatives("state") == list(JOB_STATES)
    assert get_args(shapes.State) == JOB_STATES
    assert runner_client.ENDED == ENDED
    # A submission to a lost host's kata is answered failed at once.
    assert schemas(client)["Accepted"]["properties"]["state"]["enum"] == list(
        get_args(AcceptedState)
    )
    assert set(get_args(AcceptedState)) == {"queued", "failed"}


def test_cyber_dojos_calls_and_the_keys_of_their_answers_agree_with_api_md() -> None:
    calls = table(CYBER_DOJO_MD, "| call | arguments | answer |")
    answered = {}
    for call, _, answer in calls:
        path = re.fullmatch(r"`GET (/[a-z_]+)`", call)
        key = re.match(r'`\{"([a-z_?]+)": ', answer)
        assert path and key, f"API.md's call {call} answers {{key: result}}"
        answered[path.group(1)] = key.group(1)
    assert answered == {f"/{method}": key for method, key in cyber_dojo.ANSWER_KEYS.items()}
    assert set(cyber_dojo.CALLS) == set(cyber_dojo.ANSWER_KEYS)


def test_cyber_dojos_run_answer_outcomes_and_statuses_agree_with_api_md() -> None:
    row = next(r for r in table(CYBER_DOJO_MD, "| call | arguments | answer |") if "run_" in r[0])
    keys = re.findall(r'"([a-z_]+)"', row[2].split(": {", 1)[1])
    capped = {"content": "", "truncated": False}
    result = {"stdout": capped, "stderr": capped, "status": 0, "colour": "green"}
    answer = cyber_dojo.converted({**result, "created": {}, "changed": {}}, 10)
    assert keys == list(answer)
    outcomes = re.search(r"`outcome` is the run's colour: (.*?) when", CYBER_DOJO_MD, re.S)
    assert outcomes, "API.md lists a run's outcomes"
    assert set(ticked(outcomes.group(1))) == set(TRAFFIC_LIGHTS) | set(cyber_dojo.STATUS)
    statuses = dict(re.findall(r'`"(\d+)"`\s+for\s+`([a-z_]+)`', CYBER_DOJO_MD))
    assert {outcome: status for status, outcome in statuses.items()} == cyber_dojo.STATUS
