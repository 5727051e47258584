"""`python -m bench.hosts`: one docker host against two (a second engine on this machine).

Prints, and writes bench/HOSTS.md: the p50 of a submission and of a `true` run's latency with
one host and with two (routing by host must cost nothing measurable), the Redis commands per
run, and how 100 new katas spread over the two hosts.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import requests

from bench.stats import ms, percentile
from harness.engines import DockerEngineProcess
from harness.services import RedisServer, Service, celery_worker, free_port, gunicorn, wait_for
from runner import keys
from runner.settings import LOCAL_IMAGES, Settings
from sandbox import disk
from sandbox.host import Host

SHELL = "cyber-dojo-local/shell:latest"
TRUE = {"image_name": SHELL, "changed_files": {"cyber-dojo.sh": "true"}}
SUBMITS = 400
RUNS = 30
NEW_KATAS = 100
RESULTS = Path(__file__).with_name("HOSTS.md")
IDLE = "idle"  # a host of no worker, whose katas' submissions nothing runs


def say(line: str) -> None:
    print(f"bench.hosts: {line}", file=sys.stderr, flush=True)


class Bench:
    """Redis, the API, host a's worker on the default engine, host b's on a second one."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.redis = RedisServer(log_dir)
        self.instances = {"a": f"bench{secrets.token_hex(3)}", "b": f"bench{secrets.token_hex(3)}"}
        base = {
            "RUNNER_REDIS_URL": self.redis.url,
            "RUNNER_LOG_LEVEL": "INFO",
            "RUNNER_WORKER_HEARTBEAT_S": "1",
            "RUNNER_REAP_INTERVAL_S": "86400",
        }
        self.env = {
            name: {**base, "RUNNER_HOST_NAME": name, "RUNNER_INSTANCE": instance}
            for name, instance in self.instances.items()
        }
        self.engine_b: DockerEngineProcess | None = None
        self.workers: dict[str, Service] = {}
        port = free_port()
        self.api = gunicorn({**self.env["a"], "RUNNER_PORT": str(port)}, log_dir, port)
        self.url = f"http://127.0.0.1:{port}"
        self.http = requests.Session()
        wait_for(lambda: self.http.get(self.url + "/healthz").ok, 30, "the API answering")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, self.url + path, json=body, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def wait(self, job_id: str) -> dict[str, Any]:
        while True:
            job: dict[str, Any] = self.call("GET", f"/jobs/{job_id}?wait=30")
            if job["state"] in ("done", "failed"):
                return job

    def done(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        job = self.wait(self.call(method, path, body)["job_id"])
        if job["state"] != "done":
            raise RuntimeError(f"{method} {path}: {job}")
        return job

    def start_host(self, name: str) -> None:
        env = self.env[name]
        if name == "b":
            self.engine_b = DockerEngineProcess(f"bh{secrets.token_hex(2)}", self.log_dir)
            self.engine_b.load_images(list(LOCAL_IMAGES))
            env["RUNNER_DOCKER_HOST"] = self.engine_b.url
        self.workers[name] = celery_worker(f"w{name}", env, self.log_dir, concurrency=2)
        wait_for(lambda: self.state(name) == "live", 60, f"host {name} live")

    def state(self, name: str) -> str:
        return str({h["name"]: h["state"] for h in self.call("GET", "/workers")["hosts"]}.get(name))

    def host(self, name: str) -> Host:
        url = self.engine_b.url if name == "b" and self.engine_b else Settings().docker_host
        return Host.connect(Settings(instance=self.instances[name], docker_host=url))

    def new_kata(self) -> str:
        kata_id = secrets.token_hex(5)
        self.done("PUT", f"/katas/{kata_id}", {"image_name": SHELL})
        self.done(
            "PUT", f"/katas/{kata_id}/avatars/lion", {"image_name": SHELL, "starting_files": {}}
        )
        return kata_id

    def close(self) -> list[str]:
        """Stops every process, then removes what was left on either engine: what it was."""
        hosts = {name: self.host(name) for name in self.workers}
        for service in (*self.workers.values(), self.api):
            service.stop()
        left = []
        for name, host in hosts.items():
            prefix = f"{host.settings.instance}-"
            for container in host.engine.containers(host.ours()):
                left.append(f"{name}: container {container.id[:12]}")
                host.engine.remove_container(container.id)
            volumes = {v.name for v in host.engine.volumes(host.ours())}
            volumes |= {v.name for v in host.engine.volumes(prefix=prefix)}
            for volume in sorted(volumes):
                left.append(f"{name}: volume {volume}")
                host.engine.remove_volume(volume)
            left += [f"{name}: disk {d}" for d in disk.leftovers(host)]
            disk.remove_all(host)
        self.redis.stop()
        if self.engine_b is not None:
            self.engine_b.remove()
        return left


def measure(bench: Bench, label: str) -> dict[str, float]:
    """Submission and run latency p50s, and Redis commands per run, on the hosts up now."""
    katas = [bench.new_kata() for _ in range(2)]
    for kata_id in katas:  # warm: each kata's live container made
        bench.done("POST", f"/katas/{kata_id}/avatars/lion/runs", TRUE)
    client = redis.Redis.from_url(bench.redis.url)
    commands = int(client.info("stats")["total_commands_processed"])
    runs = []
    for i in range(RUNS):
        started = time.perf_counter()
        bench.done("POST", f"/katas/{katas[i % 2]}/avatars/lion/runs", TRUE)
        runs.append(time.perf_counter() - started)
    per_run = (int(client.info("stats")["total_commands_processed"]) - commands) / RUNS
    # Submissions as the API takes them (one script: the kata's host read, the job queued),
    # to katas pinned to a host of no worker, seen 10 s ago: not live, not lost. Nothing runs
    # them; once that host is lost, the workers' sweep ends them host_lost.
    client.zadd(keys.HOSTS_SEEN, {IDLE: time.time() - 10})
    unknown = [secrets.token_hex(5) for _ in range(4)]
    for kata_id in unknown:
        client.hset(keys.kata(kata_id), "host", IDLE)
    submits = []
    for i in range(SUBMITS):
        started = time.perf_counter()
        bench.call("POST", f"/katas/{unknown[i % 4]}/avatars/lion/runs", TRUE)
        submits.append(time.perf_counter() - started)
    for kata_id in katas:
        bench.done("DELETE", f"/katas/{kata_id}")
    say(f"{label}: submit p50 {ms(percentile(submits, 50))}, run p50 {ms(percentile(runs, 50))}")
    return {
        "submit_p50": percentile(submits, 50),
        "submit_p99": percentile(submits, 99),
        "run_p50": percentile(runs, 50),
        "redis_per_run": per_run,
    }


def placement(bench: Bench) -> Counter[str]:
    """Where NEW_KATAS new katas, PUT all at once, are placed."""
    ids = [secrets.token_hex(5) for _ in range(NEW_KATAS)]
    jobs = [bench.call("PUT", f"/katas/{k}", {"image_name": SHELL})["job_id"] for k in ids]
    for job_id in jobs:
        bench.wait(job_id)
    placed = Counter(str(bench.call("GET", f"/katas/{k}")["host"]) for k in ids)
    jobs = [bench.call("DELETE", f"/katas/{k}")["job_id"] for k in ids]
    for job_id in jobs:
        bench.wait(job_id)
    return placed


def report(one: dict[str, float], two: dict[str, float], placed: Counter[str]) -> str:
    rows = [
        ("submit a run, p50", ms(one["submit_p50"]), ms(two["submit_p50"])),
        ("submit a run, p99", ms(one["submit_p99"]), ms(two["submit_p99"])),
        ("a `true` run, POST to its end, p50", ms(one["run_p50"]), ms(two["run_p50"])),
        (
            "Redis commands per run (all Redis processed, heartbeats and sweeps included)",
            f"{one['redis_per_run']:.0f}",
            f"{two['redis_per_run']:.0f}",
        ),
    ]
    lines = [
        "# One docker host against two",
        "",
        "`python -m bench.hosts` (part of `make bench`): host a on the default engine, host b on",
        "a second engine of this machine, one Redis and one API; 2 worker processes per host.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        " (a shared machine: latencies vary by tens of ms between measures)",
        f"- {SUBMITS} sequential submissions, {RUNS} sequential runs on 2 katas per measure",
        "",
        "| measure | one host | two hosts |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"Placement of {NEW_KATAS} new katas, PUT at once with two hosts: "
        + ", ".join(f"host {h}: {n}" for h, n in sorted(placed.items())),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    log_dir = Path(tempfile.mkdtemp(prefix="runner-bench-hosts-"))
    bench = Bench(log_dir)
    ok = False
    try:
        bench.start_host("a")
        one = measure(bench, "one host")
        bench.start_host("b")
        two = measure(bench, "two hosts")
        placed = placement(bench)
        ok = True
    finally:
        left = bench.close()
        if left:
            say(f"left behind (removed): {left}")
        if ok and not left:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            say(f"the services' logs are kept in {log_dir}")
    text = report(one, two, placed)
    print(text)
    RESULTS.write_text(text)
    return 0 if not left else 1


if __name__ == "__main__":
    raise SystemExit(main())
