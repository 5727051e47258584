"""The client against a whole runner: real Redis, Celery worker and beat, gunicorn, Docker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from client import ApiError, JobFailed, RunnerClient
from tests.conftest import PYTHON, new_kata_id

GREEN = {"hiker.py": "def answer():\n    return 42\n"}


def test_run_and_wait_gives_red_then_green_on_a_python_kata(
    runner: RunnerClient, make_kata: Callable[..., str]
) -> None:
    kata_id = make_kata("lion")
    red = runner.run_and_wait(kata_id, "lion", PYTHON)
    green = runner.run_and_wait(kata_id, "lion", PYTHON, changed_files=GREEN)
    assert red["state"] == "done" and red["result"] is not None
    assert red["result"]["colour"] == "red"
    assert "1 failed" in red["result"]["stdout"]["content"]
    assert green["result"] is not None and green["result"]["colour"] == "green"
    assert green["result"]["changed"] == {}
    assert green["kind"] == "run" and green["avatar_name"] == "lion" and green["error"] is None


def test_a_run_submits_a_job_whose_answer_names_it_and_wait_returns_it_ended(
    runner: RunnerClient, make_kata: Callable[..., str]
) -> None:
    kata_id = make_kata("lion")
    accepted = runner.run(kata_id, "lion", PYTHON, deleted_filenames=["test_hiker.py"])
    assert accepted["url"] == f"/jobs/{accepted['job_id']}"
    assert accepted["kind"] == "run" and accepted["kata_id"] == kata_id
    job = runner.wait(accepted["job_id"])
    assert job["state"] == "done" and job["result"] is not None
    assert "no tests ran" in job["result"]["stdout"]["content"]
    assert runner.job(accepted["job_id"]) == job


def test_a_run_for_a_kata_never_created_raises_job_failed_with_kata_not_found(
    runner: RunnerClient,
) -> None:
    kata_id = new_kata_id()
    with pytest.raises(JobFailed) as failed:
        runner.run_and_wait(kata_id, "lion", PYTHON, changed_files=GREEN)
    assert failed.value.code == "kata_not_found"
    assert kata_id in failed.value.message
    assert failed.value.job["state"] == "failed" and failed.value.job["result"] is None


def test_a_run_for_a_removed_avatar_raises_job_failed_with_avatar_not_found(
    runner: RunnerClient, make_kata: Callable[..., str]
) -> None:
    kata_id = make_kata("lion")
    runner.wait_done(runner.old_avatar(kata_id, "lion"))
    with pytest.raises(JobFailed) as failed:
        runner.run_and_wait(kata_id, "lion", PYTHON)
    assert failed.value.code == "avatar_not_found"


def test_a_run_for_a_removed_kata_raises_job_failed_with_kata_not_found(
    runner: RunnerClient, make_kata: Callable[..., str]
) -> None:
    kata_id = make_kata("lion")
    runner.wait_done(runner.old_kata(kata_id))
    with pytest.raises(JobFailed) as failed:
        runner.run_and_wait(kata_id, "lion", PYTHON)
    assert failed.value.code == "kata_not_found"


def test_an_invalid_request_raises_api_error_400_invalid_request_with_details(
    runner: RunnerClient,
) -> None:
    with pytest.raises(ApiError) as error:
        runner.run(new_kata_id(), "lion", PYTHON, max_seconds=21)
    assert error.value.status == 400
    assert error.value.code == "invalid_request"
    assert "max_seconds" in error.value.message
    assert error.value.details and error.value.details[0]["loc"] == ["max_seconds"]


def test_an_image_off_the_allow_list_raises_api_error_400_image_not_allowed(
    runner: RunnerClient,
) -> None:
    with pytest.raises(ApiError) as error:
        runner.new_kata(new_kata_id(), "alpine:latest")
    assert (error.value.status, error.value.code) == (400, "image_not_allowed")


def test_identifiers_cannot_leave_their_path_segment(runner: RunnerClient) -> None:
    with pytest.raises(ApiError) as error:
        runner.kata("../healthz")
    assert error.value.status in (400, 404)
    with pytest.raises(ApiError) as unknown:
        runner.job("j_/../../healthz")
    assert unknown.value.status == 404


def test_the_kata_record_tells_hello_and_run_times_and_an_unknown_kata_is_404(
    runner: RunnerClient, make_kata: Callable[..., str]
) -> None:
    kata_id = make_kata("lion")
    runner.run_and_wait(kata_id, "lion", PYTHON)
    record = runner.kata(kata_id)
    assert record["kata_id"] == kata_id
    assert record["hello_at"] and record["run_at"]
    assert (record["queued"], record["running"]) == (0, 0)
    with pytest.raises(ApiError) as error:
        runner.kata(new_kata_id())
    assert (error.value.status, error.value.code) == (404, "kata_not_found")


def test_an_unknown_job_raises_api_error_404_job_not_found(runner: RunnerClient) -> None:
    with pytest.raises(ApiError) as error:
        runner.job("j_" + "A" * 16, wait_s=1)
    assert (error.value.status, error.value.code) == (404, "job_not_found")


def test_health_readiness_and_the_openapi_document_answer(runner: RunnerClient) -> None:
    assert runner.healthz() == {"ok": True}
    assert runner.readyz()["ok"] is True
    document = runner.openapi()
    assert document["openapi"].startswith("3.")
    assert "/katas/{kata_id}/avatars/{avatar_name}/runs" in document["paths"]
