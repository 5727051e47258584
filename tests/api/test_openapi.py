"""/openapi.json declares what the API accepts: no more, no less."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from flask.testing import FlaskClient

from client import shapes
from runner.errors import JOB_ERROR_CODES
from runner.identifiers import AVATARS
from runner.jobs import JOB_STATES, AcceptedState


def test_the_avatar_path_parameter_is_the_enum_of_the_64_avatars(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    operation = document["paths"]["/katas/{kata_id}/avatars/{avatar_name}/runs"]["post"]
    avatar = next(p for p in operation["parameters"] if p["name"] == "avatar_name")
    assert avatar["schema"]["enum"] == list(AVATARS) and len(AVATARS) == 64
    assert client.put("/katas/5A0F8E2B1C/avatars/dodo", json={}).status_code == 400


API_MD = Path(__file__).resolve().parents[2] / "docs" / "API.md"


def api_md_job_error_codes() -> list[str]:
    """The codes of API.md's table of job error codes, a row's every backticked code."""
    lines = API_MD.read_text().splitlines()
    start = lines.index("| code | meaning, and what a client does |")
    codes = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        codes += re.findall(r"`([a-z_]+)`", line.split("|")[1])
    return codes


def api_md_job_states() -> list[str]:
    """The states of API.md's job, `"state": "queued | running | ..."`."""
    found = re.search(r'"state": "([a-z]+(?: \| [a-z]+)+)"', API_MD.read_text())
    assert found, "API.md shows a job's states"
    return found.group(1).split(" | ")


def test_job_error_codes_agree_with_the_error_tree(client: FlaskClient) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert schemas["JobError"]["properties"]["code"]["enum"] == list(JOB_ERROR_CODES)
    assert api_md_job_error_codes() == list(JOB_ERROR_CODES)


def test_job_states_agree_with_the_jobs_module(client: FlaskClient) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert schemas["Job"]["properties"]["state"]["enum"] == list(JOB_STATES)
    assert api_md_job_states() == list(JOB_STATES)
    assert get_args(shapes.State) == JOB_STATES
    # A submission to a lost host's kata is answered failed at once.
    assert schemas["Accepted"]["properties"]["state"]["enum"] == list(get_args(AcceptedState))
    assert set(get_args(AcceptedState)) == {"queued", "failed"}
