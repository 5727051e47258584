"""What an operator watches and does: metrics, workers, readiness, logs, image updates."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.services import ROOT, RedisServer, Registry, celery_worker, wait_for
from runner.jobs import Jobs
from runner.settings import Settings
from sandbox.host import Host
from tests.conftest import SHELL, sdk
from tests.stack import Stack, stack_env


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_jobs_runs_and_containers_over_every_process(
    stack: Stack, make_kata: Callable[..., str]
) -> None:
    before = stack.call("GET", "/metrics").text
    kata = make_kata(SHELL, {"lion": {"cyber-dojo.sh": "echo hi"}})
    for _ in range(3):
        stack.done("POST", f"/katas/{kata}/avatars/lion/runs", {"image_name": SHELL})
    stack.call("POST", f"/katas/{kata}/avatars/lion/runs", json={"image_name": "nope"})
    after = stack.call("GET", "/metrics")
    assert after.headers["Content-Type"].startswith("text/plain")
    text = after.text

    def grew(name: str, **labels: str) -> float:
        return value(text, name, **labels) - value(before, name, **labels)

    assert grew("runner_jobs_accepted_total", kind="run") == 3
    assert grew("runner_jobs_finished_total", kind="run", outcome="done") == 3
    assert grew("runner_jobs_finished_total", kind="new_kata", outcome="done") == 1
    assert grew("runner_run_duration_seconds_count") == 3
    # The stack runs in kata containers: the first run makes the kata's, the others reuse it.
    assert grew("runner_containers_started_total", role="live") == 1
    assert grew("runner_kata_container_runs_total", container="new") == 1
    assert grew("runner_kata_container_runs_total", container="reused") == 2
    assert grew("runner_errors_total", code="image_not_allowed") == 1
    assert value(text, "runner_queue_depth") == 0
    assert value(text, "runner_workers_online") == 1
    for gauge in ("runner_oldest_queued_age_seconds", "runner_active_leases"):
        assert (gauge, ()) in samples(text)


def test_workers_and_readiness_come_from_live_data(
    stack: Stack, make_kata: Callable[..., str]
) -> None:
    # The drain of an earlier test's last job lets its lease go just after the job ends.
    wait_for(
        lambda: stack.call("GET", "/workers").json()["workers"][0]["active_jobs"] == 0,
        10,
        "no lease held",
    )
    answer = stack.call("GET", "/workers").json()
    assert [w["name"] for w in answer["workers"]] == [f"w1@{answer['workers'][0]['host']}"]
    worker = answer["workers"][0]
    assert worker["docker_host"] and worker["active_jobs"] == 0
    assert answer["queue_depth"] == 0 and answer["oldest_queued_age_s"] is None
    wait_for(lambda: stack.call("GET", "/workers").json()["beat"] is not None, 30, "beat seen")
    assert stack.call("GET", "/workers").json()["beat"]["pid"] == stack.beat.pid

    kata = make_kata(SHELL, {"lion": {"cyber-dojo.sh": "sleep 5"}})
    job_id = stack.submit("POST", f"/katas/{kata}/avatars/lion/runs", {"image_name": SHELL})
    wait_for(
        lambda: stack.call("GET", f"/jobs/{job_id}").json()["state"] == "running", 30, "running"
    )
    busy = stack.call("GET", "/workers").json()
    assert busy["workers"][0]["active_jobs"] == 1
    stack.wait(job_id)
    ready = stack.call("GET", "/readyz")
    assert ready.status_code == 200 and ready.json()["ok"] is True


def test_worker_logs_are_json_lines_naming_the_job(
    stack: Stack, make_kata: Callable[..., str]
) -> None:
    kata = make_kata(SHELL, {"lion": {"cyber-dojo.sh": "exit 0"}})
    job = stack.done("POST", f"/katas/{kata}/avatars/lion/runs", {"image_name": SHELL})
    lines = [
        json.loads(line) for line in stack.worker.output().splitlines() if line.startswith("{")
    ]
    about = [line for line in lines if line.get("job_id") == job["job_id"]]
    assert about, "no worker log line names the job"
    assert all(line["kata_id"] == kata and line["avatar"] == "lion" for line in about)
    assert {"time", "level", "logger", "message"} <= set(about[0])
    api_lines = [
        json.loads(line) for line in stack.api.output().splitlines() if line.startswith("{")
    ]
    assert any("no RUNNER_API_TOKEN" in line["message"] for line in api_lines)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    server = Registry(tmp_path)
    yield server
    server.stop()


def push_version(host: Host, registry: Registry, version: str) -> str:
    """Pushes the shell image with IMAGE_VERSION=version to the registry; returns its name."""
    name = f"{registry.address}/runner-test/shell"
    dockerfile = f"FROM {SHELL}\nENV IMAGE_VERSION={version}\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    api = sdk(host).api
    for _ in api.build(
        fileobj=context, custom_context=True, tag=f"{name}:latest", rm=True, decode=True
    ):
        pass
    for event in api.push(name, tag="latest", stream=True, decode=True):
        assert "error" not in event, event
    api.remove_image(f"{name}:latest")  # only the registry has it now
    return f"{name}:latest"


def test_an_image_update_is_pulled_through_the_api_and_used_by_the_next_run(
    stack: Stack, host: Host, registry: Registry, make_kata: Callable[..., str]
) -> None:
    image = push_version(host, registry, "1")
    first = stack.done("POST", "/images/pull", {"image_name": image})
    assert first["kind"] == "pull_image" and first["kata_id"] is None
    assert first["result"]["image_name"] == image
    assert first["result"]["digest"].startswith("sha256:")
    kata = ""
    try:
        kata = make_kata(image, {"lion": {"cyber-dojo.sh": "echo $IMAGE_VERSION"}})
        run = {"image_name": image}
        path = f"/katas/{kata}/avatars/lion/runs"
        assert stack.done("POST", path, run)["result"]["stdout"]["content"] == "1\n"

        push_version(host, registry, "2")
        second = stack.done("POST", "/images/pull", {"image_name": image})
        assert second["result"]["digest"] != first["result"]["digest"]
        assert stack.done("POST", path, run)["result"]["stdout"]["content"] == "2\n"
    finally:
        if kata:  # its live container holds the image
            stack.done("DELETE", f"/katas/{kata}")
        for leftover in sdk(host).api.images(name=image.rsplit(":", 1)[0]):
            sdk(host).api.remove_image(leftover["Id"], force=True)


def test_pulling_an_image_no_registry_has_fails_with_image_not_found(
    stack: Stack, registry: Registry
) -> None:
    job = stack.wait(
        stack.submit(
            "POST", "/images/pull", {"image_name": f"{registry.address}/runner-test/absent:1"}
        )
    )
    assert job["state"] == "failed" and job["error"]["code"] == "image_not_found"


def test_the_pull_command_line_pulls(host: Host, registry: Registry) -> None:
    image = push_version(host, registry, "3")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "sandbox.images", "pull", image],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": "/usr/bin:/bin", "RUNNER_LOG_LEVEL": "WARNING"},
        ).stdout
        assert json.loads(out)["digest"].startswith("sha256:")
    finally:
        sdk(host).api.remove_image(image, force=True)


def test_a_worker_prepulls_its_images_without_waiting_on_a_missing_registry(
    settings: Settings, host: Host, registry: Registry, api_redis: RedisServer, tmp_path: Path
) -> None:
    image = push_version(host, registry, "4")
    absent = "127.0.0.1:9/runner-test/nowhere:latest"  # nothing listens on port 9
    env = {**stack_env(settings, api_redis.url), "RUNNER_PREPULL": f"{absent},{image}"}
    worker = celery_worker("prepull", env, tmp_path)
    try:
        jobs = Jobs.connect(settings.model_copy(update={"redis_url": api_redis.url}))
        wait_for(lambda: jobs.workers_consuming() > 0, 30, "the worker ready")
        wait_for(lambda: bool(sdk(host).api.images(name=image)), 60, "the image prepulled")
        assert "prepull of 127.0.0.1:9/runner-test/nowhere:latest failed" in worker.output()
    finally:
        worker.stop()
        sdk(host).api.remove_image(image, force=True)
