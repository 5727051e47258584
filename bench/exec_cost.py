"""What a run in a live kata container costs against the cost of starting a process: `true`
by the SDK's exec (the runner's way before its agent), straight by runc, as a run request to the
agent (the runner's way now: its whole work around the run), and forked in the container.

All in one container of the shell image, made as a kata's live container is (the agent, the
run limits, the kata's volume), each process as an avatar's uid; and the agent's look alone.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.session import BenchError
from runner.identifiers import SANDBOX_GID, avatar_uid
from runner.settings import Settings
from sandbox import agent
from sandbox.docker_engine import DockerEngine
from sandbox.host import RUNNER_LABEL
from sandbox.limits import run_limits
from sandbox.report import parse_answer

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
    agent: list[float] = field(default_factory=list)  # a `true` run, its answer whole
    look: list[float] = field(default_factory=list)  # the agent's look alone
    fork_s: float = 0.0  # `sh -c true` in the container, per process, from a loop
    forks: int = 0


def measure(
    client: Any, settings: Settings, image: str, kata_id: str, avatar: str, rounds: int, forks: int
) -> ExecCost:
    """Each way, rounds times, in one container on the kata's volume, as the avatar."""
    api = client.api
    engine = DockerEngine(client)
    agent.make_present(engine, settings.helper_image)
    user = f"{avatar_uid(avatar)}:{SANDBOX_GID}"
    container_id = api.create_container(
        image,
        [agent.AGENT, "serve"],
        detach=True,
        stdin_open=True,  # the agent waits on it
        user="root",
        name=f"{settings.instance}-raw-exec-{secrets.token_hex(6)}",
        labels={RUNNER_LABEL: settings.instance, f"{RUNNER_LABEL}.role": "bench-raw"},
        working_dir="/",
        volumes=["/sandboxes", agent.MOUNT],
        host_config=api.create_host_config(
            binds={
                f"{settings.instance}-kata-{kata_id}": {"bind": "/sandboxes", "mode": "rw"},
                **agent.bind(),
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
        found.agent = _agent_runs(engine, container_id, avatar, rounds)
        found.look = _looks(engine, container_id, rounds)
        found.runc = _runc(container_id, ["exec", "--user", user, container_id, "true"], rounds)
        if found.runc:
            found.runc_version = _runc(container_id, ["--version"], rounds)
        found.fork_s = _fork_s(api, container_id, user, forks)
        found.forks = forks
    finally:
        api.remove_container(container_id, force=True)
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


def _agent_runs(engine: DockerEngine, container_id: str, avatar: str, rounds: int) -> list[float]:
    """Round trips of a `true` run through the agent as the runner asks it: an attach, the
    request, the helper forked, the run forked as the avatar, the kill, the look, the answer."""
    sandbox = f"/sandboxes/{avatar}"
    request = agent.RunRequest(
        uid=avatar_uid(avatar),
        gid=SANDBOX_GID,
        sandbox=sandbox,
        env={"HOME": sandbox},
        max_seconds=10,
        out_cap=1001,
        file_cap=1001,
        max_files=100,
        deleted=(),
        files={},
        argv=("true",),
    )
    seconds = []
    for round_ in range(2 + rounds):
        nonce = agent.nonce()
        started = time.perf_counter()
        answer = engine.ask(container_id, agent.run(request, nonce), nonce.encode(), GIVE_UP_S)
        if round_ >= 2:
            seconds.append(time.perf_counter() - started)
        frames = parse_answer(answer)
        if not (frames.whole and frames.status == 0 and frames.left_clean):
            raise BenchError(f"the agent's run was not whole, 0 and clean: {answer[:300]!r}")
    return seconds


def _looks(engine: DockerEngine, container_id: str, rounds: int) -> list[float]:
    """Round trips of the agent's look alone (an attach, the request, its look, its answer)."""
    seconds = []
    for round_ in range(2 + rounds):
        nonce = agent.nonce()
        started = time.perf_counter()
        answer = engine.ask(container_id, agent.look(nonce), nonce.encode(), 5.0)
        if round_ >= 2:
            seconds.append(time.perf_counter() - started)
        if not parse_answer(answer).left_clean:
            raise BenchError(f"the agent did not find its container clean: {answer!r}")
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
