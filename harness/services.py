"""Real services on loopback for the tests and the bench: a Redis server, Celery workers and
beat, gunicorn, a docker registry.

Each is started on a free port of 127.0.0.1, and stopped by its own pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not happen within {timeout_s} s")


class Service:
    """A process of ours, its output in a log file, stopped by its pid."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
        """Stops the process and its own children (its session), by pid."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class RedisServer(Service):
    """redis-server on its own port and folder, AOF on, no eviction."""

    def __init__(self, log_dir: Path, port: int | None = None, maxmemory: str = "256mb") -> None:
        self.port = port or free_port()
        self.maxmemory = maxmemory
        self.dir = log_dir / f"redis-{self.port}"
        self.dir.mkdir(exist_ok=True)
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--maxmemory",
            maxmemory,
            "--maxmemory-policy",
            "noeviction",
            "--protected-mode",
            "yes",
        ]
        super().__init__(f"redis-{self.port}", argv, dict(os.environ), log_dir)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        wait_for(lambda: redis.Redis.from_url(self.url).ping(), 10, "redis answering")

    def restart(self) -> RedisServer:
        self.stop()
        return RedisServer(self.dir.parent, self.port, self.maxmemory)


def runner_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The environment of a runner process: ours plus the given RUNNER_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env.update(settings_env)
    env["PYTHONPATH"] = str(ROOT)
    return env


def celery_worker(name: str, env: dict[str, str], log_dir: Path, concurrency: int = 1) -> Service:
    argv = [
        str(VENV_BIN / "celery"),
        "-A",
        "worker.app",
        "worker",
        "--loglevel",
        "INFO",
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    return Service(name, argv, runner_env(env), log_dir)


def celery_beat(env: dict[str, str], log_dir: Path) -> Service:
    schedule = log_dir / "beat-schedule"
    argv = [
        str(VENV_BIN / "celery"),
        "-A",
        "worker.app",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(schedule),
    ]
    return Service("beat", argv, runner_env(env), log_dir)


def gunicorn(env: dict[str, str], log_dir: Path, port: int) -> Service:
    argv = [str(VENV_BIN / "gunicorn"), "-c", "api/gunicorn_conf.py", "api.app:create_app()"]
    env = {**env, "RUNNER_HOST": "127.0.0.1", "RUNNER_PORT": str(port), "RUNNER_API_PROCESSES": "2"}
    return Service("api", argv, runner_env(env), log_dir)


class Registry(Service):
    """A docker registry (Debian's docker-registry) on a loopback port, storing in a folder."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        storage = log_dir / f"registry-{self.port}"
        storage.mkdir()
        config = log_dir / f"registry-{self.port}.yml"
        config.write_text(
            "version: 0.1\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        super().__init__(
            f"registry-{self.port}",
            ["docker-registry", "serve", str(config)],
            dict(os.environ),
            log_dir,
        )
        self.address = f"127.0.0.1:{self.port}"
        wait_for(self.listening, 10, "the registry listening")

    def listening(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), 1):
            return True
