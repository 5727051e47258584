"""The soak's own runner: a docker engine, Redis, a Celery worker (2 processes), beat and the
API, on loopback, each killed with SIGKILL and started again at will.

Every process it starts is remembered by its pid (each leads a session of its own), so that
`stop()` ends exactly those, also the ones a fault orphaned, and says how many were left.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import redis
import requests

from bench.soak.cyber_dojo import IMAGES as CYBER_DOJO_IMAGES
from harness.engines import DockerEngineProcess
from harness.services import (
    RedisServer,
    Service,
    alive,
    celery_beat,
    celery_worker,
    free_port,
    gunicorn,
    wait_for,
)
from runner import keys
from runner.settings import LOCAL_IMAGES, Settings
from sandbox import disk
from sandbox.host import Host

CONCURRENCY = 2
DOWN_S = 3.0  # how long Redis and the engine stay dead before they are started again
S = TypeVar("S", bound=Service)


@dataclass(frozen=True)
class Leftovers:
    """What the instance left on its engine after every kata was deleted."""

    containers: int
    volumes: int
    disks: int
    detail: tuple[str, ...] = ()

    def total(self) -> int:
        return self.containers + self.volumes + self.disks


class SoakService:
    """start(), then the faults; stop() ends everything, whatever happened."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.instance = f"soak{secrets.token_hex(3)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.engine: DockerEngineProcess | None = None
        self.redis: RedisServer | None = None
        self.worker: Service | None = None
        self.beat: Service | None = None
        self.api: Service | None = None
        self.env: dict[str, str] = {}
        self.started: list[Service] = []  # every process ever started, replaced ones too
        self.stranded: list[str] = []  # what the engine's SIGKILL left, killed before the count

    def start(self) -> None:
        """The engine with the local images, Redis, the worker, beat and the API; ready."""
        self.engine = self._started(DockerEngineProcess(f"rs{self.instance[-6:]}", self.log_dir))
        self.engine.load_images([*LOCAL_IMAGES, *CYBER_DOJO_IMAGES])
        self.redis = self._started(RedisServer(self.log_dir))
        metrics_dir = self.log_dir / "metrics"
        metrics_dir.mkdir()
        self.env = {
            "RUNNER_INSTANCE": self.instance,
            "RUNNER_REDIS_URL": self.redis.url,
            "RUNNER_DOCKER_HOST": self.engine.url,
            "RUNNER_LOG_LEVEL": "INFO",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        self.worker = self._started(
            celery_worker("soak", self.env, self.log_dir, concurrency=CONCURRENCY)
        )
        self.beat = self._started(celery_beat(self.env, self.log_dir))
        self._start_api()
        wait_for(self.ready, 90, "the soak's runner ready")

    def ready(self) -> bool:
        return requests.get(self.url + "/readyz", timeout=5).status_code == 200

    def host(self) -> Host:
        """The soak's engine as the runner's instance sees it."""
        engine = self._running(self.engine)
        return Host.connect(Settings(instance=self.instance, docker_host=engine.url))

    def kill_worker_child(self, kata_ids: list[str]) -> str:
        """SIGKILLs a prefork child of the worker, one holding a kata's lease if any does."""
        worker = self._running(self.worker)
        children = wait_children(worker.pid)
        holders: set[int] = set()
        give_up = time.monotonic() + 10
        with redis.Redis.from_url(self._running(self.redis).url) as client:
            while not holders and time.monotonic() < give_up:
                for kata_id in kata_ids:
                    value = client.get(keys.lease(kata_id))
                    if isinstance(value, bytes):  # host:pid:token
                        holders.add(int(value.decode().split(":")[1]))
                holders &= set(children)
                time.sleep(0.1)
        victim = min(holders) if holders else children[0]
        os.kill(victim, signal.SIGKILL)
        return f"pid {victim}, {'holding a lease' if holders else 'idle'}"

    def kill_api(self) -> str:
        """SIGKILLs gunicorn's master and starts it again on the same port at once; whole
        again once the old master's workers are gone and the new one answers."""
        api = self._running(self.api)
        workers = wait_children(api.pid)
        os.kill(api.pid, signal.SIGKILL)
        api.process.wait()
        self._start_api()
        wait_for(lambda: not any(map(alive, workers)), 30, "the old API workers gone")
        wait_for(lambda: requests.get(self.url + "/healthz", timeout=5).ok, 60, "the API back")
        return f"master pid {api.pid}"

    def kill_redis(self) -> str:
        """SIGKILLs Redis, then starts it on the same port and folder (its AOF)."""
        server = self._running(self.redis)
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait()
        time.sleep(DOWN_S)
        self.redis = self._started(server.restart())
        wait_for(self.ready, 90, "the runner ready after Redis")
        return f"pid {server.pid}"

    def kill_engine(self) -> str:
        """SIGKILLs the soak's dockerd, then starts it on the same folder."""
        engine = self._running(self.engine)
        os.kill(engine.pid, signal.SIGKILL)
        engine.process.wait()
        time.sleep(DOWN_S)
        self.engine = self._started(engine.restart())
        return f"pid {engine.pid}"

    def leftovers(self) -> Leftovers:
        """Counts, then removes, the instance's containers, volumes and disks. First it kills
        what the engine's SIGKILL stranded: a `runc init` of a container start in flight,
        orphaned, keeps that container's mounts (a kata's disk among them, whose loop device
        the runner's removal of the kata leaves to be freed at its last unmount)."""
        root = str(self.engine.root) if self.engine else ""
        for pid in stranded_inits(root) if root else []:
            self.stranded.append(f"pid {pid} {command_of(pid)}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        host = self.host()
        engine = host.engine
        containers = engine.containers(host.ours())
        volumes = {v.name for v in engine.volumes(prefix=f"{self.instance}-")}
        volumes |= {v.name for v in engine.volumes(host.ours())}
        disks = disk.leftovers(host)
        detail = (
            *(f"container {c.id[:12]} {c.labels}" for c in containers),
            *(f"volume {v}" for v in sorted(volumes)),
            *(f"disk {d}" for d in disks),
        )
        for container in containers:
            engine.remove_container(container.id)
        for volume in volumes:
            with contextlib.suppress(Exception):
                engine.remove_volume(volume)
        disk.remove_all(host)
        return Leftovers(len(containers), len(volumes), len(disks), detail)

    def stop_worker(self) -> None:
        """A warm shutdown of the worker: only the main process is told, it ends its pool
        itself."""
        if self.worker is not None and self.worker.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.worker.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.worker.process.wait(30)

    def stop(self) -> tuple[list[str], list[str]]:
        """Stops every process started, the engine last (its folder removed). Returns the
        processes of their sessions that outlived them, and those the engine left after its
        SIGKILL (its shims, which name its folder); both are then killed."""
        self.stop_worker()
        for service in reversed(self.started):
            if not isinstance(service, DockerEngineProcess):
                with contextlib.suppress(Exception):
                    service.stop()
        if self.engine is not None:
            with contextlib.suppress(Exception):
                self.engine.stop(timeout_s=30)
        left = {pid: s.name for s in self.started for pid in session_members(s.pid)}
        root = str(self.engine.root) if self.engine else ""
        orphans = [pid for pid in naming(root) if pid not in left] if root else []
        described = (
            [f"{name}: pid {pid} {command_of(pid)}" for pid, name in left.items()],
            [*self.stranded, *(f"pid {pid} {command_of(pid)}" for pid in orphans)],
        )
        for pid in [*left, *orphans]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.engine is not None:
            remove_folder(self.engine.root)
        return described

    def _start_api(self) -> None:
        self.api = self._started(gunicorn({**self.env}, self.log_dir, self.port))

    def _started(self, service: S) -> S:
        self.started.append(service)
        return service

    def _running(self, service: S | None) -> S:
        if service is None:
            raise RuntimeError("the soak's runner is not started")
        return service


def wait_children(pid: int, timeout_s: float = 30) -> list[int]:
    """The pids of a process's children, once it has some."""
    found: list[int] = []

    def some() -> bool:
        found[:] = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return bool(found)

    wait_for(some, timeout_s, f"children of pid {pid}")
    return found


def session_members(session: int) -> list[int]:
    """The live processes left in the session of a leader that ended: none when a live
    process leads it (the pid was reused: the session is another's)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[4]) == session:  # state, ppid, pgrp, session
            if int(entry.name) == session:
                return []
            members.append(int(entry.name))
    return members


def stranded_inits(root: str) -> list[int]:
    """The orphaned `runc init` processes (their parent is init) whose mounts name the
    engine's folder: container starts that a SIGKILL of the engine left half done."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            mounts = (entry / "mountinfo").read_text()
        except OSError:
            continue
        parent = stat.rpartition(")")[2].split()[1]
        if parent == "1" and command_of(int(entry.name)).startswith("runc init") and root in mounts:
            found.append(int(entry.name))
    return found


def naming(text: str) -> list[int]:
    """The live processes whose command line holds text."""
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and text in command_of(int(entry.name), limit=None)
    ]


def remove_folder(root: Path) -> None:
    """Removes an engine's folder, unmounting first what a killed engine left mounted there."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True):
        subprocess.run(["umount", "--lazy", mount], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def command_of(pid: int, limit: int | None = 120) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        return command.decode(errors="replace")[:limit]
    except OSError:
        return "?"
