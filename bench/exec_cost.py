"""What stands between a run's exec and the cost of starting a process: `true` by the SDK's
exec, straight by runc, by an agent in the container over fifos, and forked in the container.

All in one container of the shell image, made as a kata's live container is (its watcher, the
run limits, the kata's volume), each process as an avatar's uid; and the watcher's verdict,
which the worker asks after every run in a live container.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.session import BenchError
from runner.identifiers import SANDBOX_GID, avatar_uid
from runner.settings import Settings
from sandbox.engine import DockerEngine
from sandbox.host import RUNNER_LABEL
from sandbox.kata_containers import WATCHER, Verdict
from sandbox.limits import run_limits

AGENT_DIR = "/agent"
# The agent: for each line it reads from `in`, it forks `sh -c true` and answers on `out`
# (read, echo and the redirections are the shell's own: one fork and exec a request).
AGENT = f"while read -r line < {AGENT_DIR}/in; do sh -c true; echo ok > {AGENT_DIR}/out; done"
RUNC_STATE = "/run/docker/runtime-runc/moby"  # where dockerd's containerd keeps runc's state
GIVE_UP_S = 60.0


@dataclass
class ExecCost:
    """Seconds of each way, per process started (runc's empty when runc is not here)."""

    exec_total: list[float] = field(default_factory=list)
    exec_create: list[float] = field(default_factory=list)
    exec_start: list[float] = field(default_factory=list)  # to the answer's headers
    exec_stream: list[float] = field(default_factory=list)  # the output stream to its end
    runc: list[float] = field(default_factory=list)
    runc_version: list[float] = field(default_factory=list)  # the runc binary's own start
    agent: list[float] = field(default_factory=list)
    verdict: list[float] = field(default_factory=list)  # the watcher's, over the attach stream
    fork_s: float = 0.0  # `sh -c true` in the container, per process, from a loop
    forks: int = 0


def measure(
    client: Any, settings: Settings, image: str, kata_id: str, avatar: str, rounds: int, forks: int
) -> ExecCost:
    """Each way, rounds times, in one container on the kata's volume, as the avatar."""
    api = client.api
    agent_dir = Path(tempfile.mkdtemp(prefix="runner-bench-agent-"))
    agent_dir.chmod(0o755)
    for fifo in ("in", "out"):
        os.mkfifo(agent_dir / fifo, 0o666)
        (agent_dir / fifo).chmod(0o666)
    user = f"{avatar_uid(avatar)}:{SANDBOX_GID}"
    container_id = api.create_container(
        image,
        WATCHER,
        detach=True,
        stdin_open=True,  # the watcher waits on it
        user="root",
        name=f"{settings.instance}-raw-exec-{secrets.token_hex(6)}",
        labels={RUNNER_LABEL: settings.instance, f"{RUNNER_LABEL}.role": "bench-raw"},
        working_dir="/",
        volumes=["/sandboxes", AGENT_DIR],
        host_config=api.create_host_config(
            binds={
                f"{settings.instance}-kata-{kata_id}": {"bind": "/sandboxes", "mode": "rw"},
                str(agent_dir): {"bind": AGENT_DIR, "mode": "rw"},
            },
            **run_limits(settings),
        ),
    )["Id"]
    found = ExecCost()
    try:
        api.start(container_id)
        for _ in range(2 + rounds):  # the first two warm the engine's paths
            found.exec_create.append(0.0)
            found.exec_start.append(0.0)
            found.exec_stream.append(0.0)
            found.exec_total.append(_sdk_exec(api, container_id, user, ["true"], found))
        for spans in (found.exec_total, found.exec_create, found.exec_start, found.exec_stream):
            del spans[:2]
        found.verdict = _verdicts(client, container_id, rounds)  # before the agent lives on
        found.runc = _runc(container_id, ["exec", "--user", user, container_id, "true"], rounds)
        if found.runc:
            found.runc_version = _runc(container_id, ["--version"], rounds)
        found.fork_s = _fork_s(api, container_id, user, forks)
        found.forks = forks
        found.agent = _agent(api, container_id, user, agent_dir, rounds)
    finally:
        api.remove_container(container_id, force=True)
        shutil.rmtree(agent_dir, ignore_errors=True)
    return found


def _sdk_exec(api: Any, container_id: str, user: str, command: list[str], spans: ExecCost) -> float:
    """One exec as the runner makes it (create, start with a socket, the stream read to its
    end); its spans go into the last entries of spans' lists."""
    started = time.perf_counter()
    exec_id = api.exec_create(
        container_id, command, stdout=True, stderr=True, user=user, workdir="/sandboxes"
    )["Id"]
    created = time.perf_counter()
    attached = api.exec_start(exec_id, socket=True)
    answered = time.perf_counter()
    sock: socket.socket = getattr(attached, "_sock", attached)
    try:
        sock.settimeout(GIVE_UP_S)
        while sock.recv(65536):
            pass
    finally:
        sock.close()
        attached.close()
    ended = time.perf_counter()
    spans.exec_create[-1] = created - started
    spans.exec_start[-1] = answered - created
    spans.exec_stream[-1] = ended - answered
    return ended - started


def _verdicts(client: Any, container_id: str, rounds: int) -> list[float]:
    """Round trips of the worker's question to the container's watcher after a run (an attach,
    a line in, a line out), as the runner asks it."""
    engine = DockerEngine(client)
    seconds = []
    for round_ in range(2 + rounds):
        nonce = secrets.token_hex(8)
        started = time.perf_counter()
        answer = engine.ask(container_id, f"verdict {nonce}\n".encode(), nonce.encode(), 5.0)
        if round_ >= 2:
            seconds.append(time.perf_counter() - started)
        if not Verdict.parse(answer).clean:
            raise BenchError(f"the watcher did not find its container clean: {answer!r}")
    return seconds


def _runc(container_id: str, args: list[str], rounds: int) -> list[float]:
    """Seconds of runc itself with these arguments (`exec ... true`: straight, no dockerd,
    no containerd); [] when this host's engine keeps no runc state where dockerd's does."""
    runc = shutil.which("runc")
    if runc is None or not Path(RUNC_STATE, container_id).is_dir():
        return []
    command = [runc, "--root", RUNC_STATE, *args]
    seconds = []
    for round_ in range(2 + rounds):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, timeout=GIVE_UP_S)
        if done.returncode != 0:
            raise BenchError(f"runc exec failed: {done.stderr[:300]!r}")
        if round_ >= 2:
            seconds.append(time.perf_counter() - started)
    return seconds


def _fork_s(api: Any, container_id: str, user: str, forks: int) -> float:
    """Seconds per `sh -c true` forked by a shell loop in the container: the loop's exec
    timed with and without the processes, the difference over their number (best of 3)."""

    def loop(body: str) -> float:
        script = f"i=0; while [ $i -lt {forks} ]; do {body}; i=$((i+1)); done"
        spans = ExecCost([], [0.0], [0.0], [0.0])
        return _sdk_exec(api, container_id, user, ["sh", "-c", script], spans)

    with_forks = min(loop("sh -c true") for _ in range(3))
    without = min(loop(":") for _ in range(3))
    return (with_forks - without) / forks


def _agent(api: Any, container_id: str, user: str, agent_dir: Path, rounds: int) -> list[float]:
    """Round trips of a request to the agent (one line into `in`) and its answer (`out`)."""
    exec_id = api.exec_create(
        container_id, ["sh", "-c", AGENT], user=user, workdir="/sandboxes", stdout=False
    )["Id"]
    api.exec_start(exec_id, detach=True)
    seconds: list[float] = []
    failed: list[BaseException] = []

    def ask() -> None:
        try:
            for round_ in range(2 + rounds):
                started = time.perf_counter()
                with open(agent_dir / "in", "w") as request:
                    request.write("run\n")
                with open(agent_dir / "out") as answer:
                    if answer.read() != "ok\n":
                        raise BenchError("the agent answered otherwise than ok")
                if round_ >= 2:
                    seconds.append(time.perf_counter() - started)
        except BaseException as error:
            failed.append(error)

    asking = threading.Thread(target=ask, name="agent", daemon=True)
    asking.start()
    asking.join(GIVE_UP_S)
    if asking.is_alive():
        raise BenchError(f"the agent did not answer {rounds} requests in {GIVE_UP_S:.0f} s")
    if failed:
        raise failed[0]
    return seconds
