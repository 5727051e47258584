"""Every row of API.md's error table: its status, its code, its body, and nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from harness.services import RedisServer
from tests.api.conftest import Woken, make_app, snapshot
from tests.conftest import SHELL

KATA = "/katas/5A0F8E2B1C"
RUN = KATA + "/avatars/lion/runs"
MiB = 1024 * 1024


def run(**body: Any) -> dict[str, Any]:
    return {"image_name": SHELL, "changed_files": {"cyber-dojo.sh": "true"}, **body}


BAD_REQUESTS = [
    # (method, path, kwargs, status, code)
    (
        "PUT",
        KATA,
        {"data": "{not json", "content_type": "application/json"},
        400,
        "invalid_request",
    ),
    ("PUT", KATA, {"json": {"image_name": 5}}, 400, "invalid_request"),
    ("PUT", KATA, {"json": {}}, 400, "invalid_request"),
    ("PUT", KATA, {"json": {"image_name": SHELL, "extra": 1}}, 400, "invalid_request"),
    ("PUT", KATA, {"json": [SHELL]}, 400, "invalid_request"),
    ("PUT", "/katas/5A0F.E2B", {"json": {"image_name": SHELL}}, 400, "invalid_request"),
    ("PUT", "/katas/5A0F", {"json": {"image_name": SHELL}}, 400, "invalid_request"),
    ("PUT", "/katas/5A0F/E2B1C", {"json": {"image_name": SHELL}}, 404, "not_found"),
    ("PUT", KATA, {"json": {"image_name": "busybox"}}, 400, "image_not_allowed"),
    (
        "PUT",
        KATA,
        {"json": {"image_name": "cyber-dojo-local/shell:evil"}},
        400,
        "image_not_allowed",
    ),
    (
        "PUT",
        KATA,
        {"data": "image_name=x", "content_type": "text/plain"},
        415,
        "unsupported_media_type",
    ),
    ("PUT", KATA, {}, 415, "unsupported_media_type"),
    ("PATCH", KATA, {"json": {}}, 405, "method_not_allowed"),
    ("GET", "/no/such/path", {}, 404, "not_found"),
    ("GET", "/jobs/j_doesnotexist0000", {}, 404, "job_not_found"),
    ("GET", "/jobs/..%2F..%2Fetc", {}, 404, "not_found"),
    ("GET", "/jobs/j_../../etc", {}, 404, "not_found"),
    ("GET", "/jobs/..", {}, 404, "job_not_found"),
    ("GET", "/jobs/j_doesnotexist0000?wait=31", {}, 400, "invalid_request"),
    ("GET", "/jobs/j_doesnotexist0000?wait=soon", {}, 400, "invalid_request"),
    ("GET", KATA, {}, 404, "kata_not_found"),
    (
        "PUT",
        KATA + "/avatars/unicorn",
        {"json": {"image_name": SHELL, "starting_files": {}}},
        400,
        "invalid_request",
    ),
    ("POST", KATA + "/avatars/unicorn/runs", {"json": run()}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(max_seconds=0)}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(max_seconds=21)}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(max_seconds="10")}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(max_seconds=2.5)}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(changed_files={"../escape": "x"})}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(changed_files={"/etc/passwd": "x"})}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(changed_files={"a//b": "x"})}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(changed_files={"a/./b": "x"})}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(changed_files={"nul\u0000": "x"})}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(changed_files={"x": 5})}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(deleted_filenames=["../../x"])}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(deleted_filenames="x")}, 400, "invalid_request"),
    ("POST", RUN, {"json": run(changed_files={"big": "x" * (2 * MiB)})}, 413, "too_large"),
    (
        "POST",
        RUN,
        {"json": run(changed_files={f"f{i}": "x" * (MiB - 10) for i in range(11)})},
        413,
        "too_large",
    ),
    ("POST", RUN, {"data": "x" * (25 * MiB), "content_type": "application/json"}, 413, "too_large"),
    (
        "POST",
        RUN,
        {"json": run(changed_files={f"f{i}": "" for i in range(1001)})},
        413,
        "too_large",
    ),
    (
        "POST",
        RUN,
        {"json": run(deleted_filenames=[f"f{i}" for i in range(1001)])},
        413,
        "too_large",
    ),
    (
        "PUT",
        KATA + "/avatars/lion",
        {"json": {"image_name": SHELL, "starting_files": {f"f{i}": "" for i in range(1001)}}},
        413,
        "too_large",
    ),
]


def assert_error(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    body = answer.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert "Traceback" not in body["error"]["message"]


@pytest.mark.parametrize(
    "method, path, kwargs, status, code",
    BAD_REQUESTS,
    ids=[f"{s}-{c}-{i}" for i, (_, _, _, s, c) in enumerate(BAD_REQUESTS)],
)
def test_a_bad_request_answers_its_error_and_changes_nothing(
    client: FlaskClient,
    redis_client: redis.Redis,
    woken: Woken,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = snapshot(redis_client)
    answer = client.open(path, method=method, **kwargs)
    assert_error(answer, status, code)
    assert snapshot(redis_client) == before
    assert woken == []


def test_a_wrong_or_missing_token_is_401_and_health_stays_open(
    api_redis: RedisServer, redis_client: redis.Redis, woken: Woken
) -> None:
    client = make_app(api_redis, woken, api_token="s3cret").test_client()
    before = snapshot(redis_client)
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "s3cret"},
        {"Authorization": "Basic s3cret"},
    ):
        assert_error(
            client.put(KATA, json={"image_name": SHELL}, headers=headers), 401, "unauthorized"
        )
    assert snapshot(redis_client) == before
    assert client.get("/healthz").status_code == 200
    good = client.put(KATA, json={"image_name": SHELL}, headers={"Authorization": "Bearer s3cret"})
    assert good.status_code == 202


def test_a_kata_with_128_queued_jobs_is_busy(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    for _ in range(128):
        assert client.post(RUN, json=run()).status_code == 202
    before = snapshot(redis_client)
    assert_error(client.post(RUN, json=run()), 429, "kata_busy")
    assert snapshot(redis_client) == before
    assert client.post("/katas/otherkata/avatars/lion/runs", json=run()).status_code == 202


def test_a_full_runner_is_unavailable(
    api_redis: RedisServer, redis_client: redis.Redis, woken: Woken
) -> None:
    client = make_app(api_redis, woken, max_queued=3).test_client()
    for n in range(3):
        assert client.put(f"/katas/kata{n:04}", json={"image_name": SHELL}).status_code == 202
    before = snapshot(redis_client)
    assert_error(client.put("/katas/kata9999", json={"image_name": SHELL}), 503, "unavailable")
    assert snapshot(redis_client) == before


def test_an_accepted_job_answers_202_with_its_location_and_wakes_its_kata(
    client: FlaskClient, woken: Woken
) -> None:
    answer = client.post(RUN, json=run())
    assert answer.status_code == 202
    body = answer.get_json()
    assert body == {
        "job_id": body["job_id"],
        "kind": "run",
        "kata_id": "5A0F8E2B1C",
        "state": "queued",
        "url": f"/jobs/{body['job_id']}",
    }
    assert answer.headers["Location"] == body["url"]
    assert woken == ["5A0F8E2B1C"]
    job = client.get(body["url"]).get_json()
    assert job["state"] == "queued" and job["avatar_name"] == "lion" and job["result"] is None
    assert client.get(KATA).get_json() == {
        "kata_id": "5A0F8E2B1C",
        "host": "local",  # placed on the default host: no host is live
        "hello_at": None,
        "run_at": None,
        "queued": 1,
        "running": 0,
    }


def test_odd_but_legal_filenames_are_accepted(client: FlaskClient) -> None:
    files = {name: "x" for name in ["quote's", "$(id)", "-dash", "sp ace", "ünï", "a\\b", "..x"]}
    assert client.post(RUN, json=run(changed_files=files)).status_code == 202


def test_openapi_is_generated_from_the_schemas(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    run_schema = document["components"]["schemas"]["Run"]
    assert run_schema["properties"]["max_seconds"]["maximum"] == 20
    assert "/katas/{kata_id}/avatars/{avatar_name}/runs" in document["paths"]
