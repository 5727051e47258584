"""Two docker hosts: katas placed on the least loaded, pinned to it, a lost host survived."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.services import Registry, wait_for
from runner.clock import epoch
from runner.queueing import celery_app, send_reap
from runner.settings import Settings
from tests.conftest import SHELL, new_kata_id, sdk
from tests.hosts.conftest import HOST_LOST_S, LOSS_SLACK_S, TwoHosts
from tests.pipeline.test_operating import push_version

pytestmark = pytest.mark.slow

FILES = {"cyber-dojo.sh": "echo hello from $(cat /etc/hostname)"}


def new_kata(two: TwoHosts) -> str:
    kata_id = new_kata_id()
    two.stack.done("PUT", f"/katas/{kata_id}", {"image_name": SHELL})
    two.stack.done(
        "PUT", f"/katas/{kata_id}/avatars/lion", {"image_name": SHELL, "starting_files": FILES}
    )
    return kata_id


def run(two: TwoHosts, kata_id: str, script: str = "echo hi") -> dict[str, Any]:
    body = {"image_name": SHELL, "changed_files": {"cyber-dojo.sh": script}}
    return two.stack.wait(two.stack.submit("POST", f"/katas/{kata_id}/avatars/lion/runs", body))


def volume_on(two: TwoHosts, name: str, kata_id: str) -> bool:
    host = two.hosts[name]
    return host.engine.volume(host.volume_name(kata_id)) is not None


def delete(two: TwoHosts, *katas: str) -> None:
    for kata_id in katas:
        two.stack.done("DELETE", f"/katas/{kata_id}")


def test_new_katas_spread_over_both_hosts_and_each_runs_on_its_own(two_hosts: TwoHosts) -> None:
    katas = [new_kata(two_hosts) for _ in range(4)]
    placed = {k: two_hosts.kata_host(k) for k in katas}
    assert sorted(placed.values()) == ["a", "a", "b", "b"]
    for kata_id, name in placed.items():
        other = "b" if name == "a" else "a"
        assert volume_on(two_hosts, name, kata_id) and not volume_on(two_hosts, other, kata_id)
        job = run(two_hosts, kata_id)
        assert job["state"] == "done" and job["result"]["stdout"]["content"] == "hi\n"
        containers = two_hosts.hosts[name].kata_containers(kata_id)
        assert containers, "its live container is on its own host's engine"
        assert not two_hosts.hosts[other].kata_containers(kata_id)
    by_host = {h["name"]: h for h in two_hosts.stack.call("GET", "/workers").json()["hosts"]}
    assert by_host["a"]["katas"] == by_host["b"]["katas"] == 2
    assert by_host["a"]["workers"] and by_host["b"]["workers"]
    metrics = two_hosts.stack.call("GET", "/metrics").text
    assert 'runner_host_katas{host="b"} 2.0' in metrics
    delete(two_hosts, *katas)


def test_a_draining_host_gets_no_new_kata_and_its_katas_keep_running(
    two_hosts: TwoHosts,
) -> None:
    stack = two_hosts.stack
    kept = new_kata(two_hosts)
    name = two_hosts.kata_host(kept)
    assert stack.call("PUT", f"/hosts/{name}/draining").json() == {"host": name, "draining": True}
    try:
        assert two_hosts.live_hosts()[name] == "draining"
        others = [new_kata(two_hosts) for _ in range(3)]
        assert {two_hosts.kata_host(k) for k in others} == {"b" if name == "a" else "a"}
        assert run(two_hosts, kept)["state"] == "done"
    finally:
        stack.call("DELETE", f"/hosts/{name}/draining")
    delete(two_hosts, kept, *others)


@contextmanager
def pushed(two_hosts: TwoHosts, tmp_path: Path, version: str) -> Iterator[str]:
    """A new version of an image, in a registry of its own; its copies go from both hosts
    after."""
    registry = Registry(tmp_path)
    image = ""
    try:
        image = push_version(two_hosts.hosts["a"], registry, version)
        yield image
    finally:
        registry.stop()
        for host in two_hosts.hosts.values():
            for leftover in sdk(host).api.images(name=image.rsplit(":", 1)[0]) if image else []:
                sdk(host).api.remove_image(leftover["Id"], force=True)


def on_both(two_hosts: TwoHosts, image: str) -> bool:
    """Whether both hosts' engines hold the image."""
    repository = image.rsplit(":", 1)[0]
    return all(sdk(host).api.images(name=repository) for host in two_hosts.hosts.values())


def test_an_image_pull_pulls_on_every_live_host(two_hosts: TwoHosts, tmp_path: Path) -> None:
    with pushed(two_hosts, tmp_path, "7") as image:
        pulled = two_hosts.stack.done("POST", "/images/pull", {"image_name": image})
        result = pulled["result"]
        assert result["image_name"] == image and result["digest"].startswith("sha256:")
        assert result["hosts"] == {
            "a": {"state": "done", "digest": result["digest"]},
            "b": {"state": "done", "digest": result["digest"]},
        }
        assert on_both(two_hosts, image)


def test_cyber_dojos_pull_image_pulls_on_every_live_host(
    two_hosts: TwoHosts, tmp_path: Path
) -> None:
    # The protocol is served beside the API, which has no token here.
    stack = replace(two_hosts.stack, cyber_dojo_url=two_hosts.stack.url)
    with pushed(two_hosts, tmp_path, "8") as image:
        call = {"id": "a1B2c3-0", "image_name": image}

        def pulled() -> bool:
            answer = stack.cyber_dojo("pull_image", call).json()["pull_image"]
            assert answer in ("pulling", "pulled")
            return bool(answer == "pulled")

        wait_for(pulled, 60, "cyber-dojo's pull_image answers pulled")
        assert on_both(two_hosts, image)


def on_host(two: TwoHosts, name: str) -> str:
    """A new kata placed on the named host (the other drains meanwhile)."""
    other = "b" if name == "a" else "a"
    two.stack.call("PUT", f"/hosts/{other}/draining")
    try:
        kata_id = new_kata(two)
    finally:
        two.stack.call("DELETE", f"/hosts/{other}/draining")
    assert two.kata_host(kata_id) == name
    return kata_id


def test_a_lost_host_fails_its_katas_jobs_host_lost_and_comes_back_clean(
    two_hosts: TwoHosts,
) -> None:
    stack = two_hosts.stack
    on_a, on_b = on_host(two_hosts, "a"), on_host(two_hosts, "b")
    running = stack.submit(
        "POST",
        f"/katas/{on_b}/avatars/lion/runs",
        {"image_name": SHELL, "changed_files": {"cyber-dojo.sh": "sleep 15"}, "max_seconds": 20},
    )
    wait_for(lambda: stack.call("GET", f"/jobs/{running}").json()["state"] == "running", 30, "run")
    queued = stack.submit(
        "POST", f"/katas/{on_b}/avatars/lion/runs", {"image_name": SHELL, "changed_files": {}}
    )

    # Host b is lost: its worker killed, its engine stopped.
    two_hosts.workers["b"].stop(signal.SIGKILL)
    two_hosts.engine_b.stop()
    lost_at, lost_epoch = time.monotonic(), time.time()

    # Host a's katas run on meanwhile, undelayed.
    while time.monotonic() - lost_at < HOST_LOST_S / 2:
        assert run(two_hosts, on_a)["state"] == "done"
    for job_id in (running, queued):
        job = stack.wait(job_id)
        assert job["state"] == "failed" and job["error"]["code"] == "host_lost", job
        # Ended within the bound (by the job's own record: the test may look later).
        assert epoch(job["finished_at"]) - lost_epoch <= HOST_LOST_S + LOSS_SLACK_S, job
    assert two_hosts.live_hosts()["b"] == "lost"
    later = run(two_hosts, on_b)
    assert later["state"] == "failed" and later["error"]["code"] == "host_lost"

    # The client's answer is the seed's: new_kata places it anew, on the live host.
    stack.done("PUT", f"/katas/{on_b}", {"image_name": SHELL})
    assert two_hosts.kata_host(on_b) == "a"
    stack.done("PUT", f"/katas/{on_b}/avatars/lion", {"image_name": SHELL, "starting_files": FILES})
    assert run(two_hosts, on_b)["result"]["stdout"]["content"] == "hi\n"
    assert volume_on(two_hosts, "a", on_b)

    # Host b comes back: its reaper removes the stale volume, never to be used again.
    two_hosts.start_engine_b()
    two_hosts.start_worker("b")
    wait_for(lambda: two_hosts.live_hosts()["b"] == "live", 60, "host b live again")
    assert volume_on(two_hosts, "b", on_b)
    send_reap(celery_app(Settings(redis_url=stack.redis.url)), "b")
    wait_for(
        lambda: (
            not volume_on(two_hosts, "b", on_b)
            and not two_hosts.hosts["b"].kata_containers(on_b, mounting=True)
        ),
        60,
        "the stale volume removed, with its containers and disk",
    )
    fresh = on_host(two_hosts, "b")
    assert run(two_hosts, fresh)["state"] == "done"
    assert run(two_hosts, on_b)["state"] == "done"
    delete(two_hosts, on_a, on_b, fresh)
