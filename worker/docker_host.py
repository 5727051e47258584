"""The seam to the docker engine: a client, one container's whole life, errors converted."""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests.exceptions

from runner import metrics
from runner.errors import DockerUnavailable, ImageNotFound, KataNotFound, RunnerError
from runner.settings import Settings

log = logging.getLogger(__name__)

ATTACH_HEADER = struct.Struct(">BxxxL")  # stream (1 stdout, 2 stderr), 3 bytes pad, length
STDERR_KEPT_BYTES = 4096
ROLE_LABEL = "org.cyber-dojo.runner.role"
REMOVAL_WAIT_S = 30.0


def connect(settings: Settings) -> docker.DockerClient:
    """A client of the engine at settings.docker_host, its API version negotiated."""
    with docker_errors():
        client = docker.DockerClient(
            base_url=settings.docker_host, version="auto", timeout=settings.docker_timeout_s
        )
    # The engine is never reached through a proxy, and requests would otherwise read the
    # proxy variables of the whole environment again on every call (a twentieth of a
    # worker's CPU in a profile of short runs).
    client.api.trust_env = False
    return client


@contextlib.contextmanager
def docker_errors() -> Iterator[None]:
    """Converts the docker SDK's errors into the runner's."""
    try:
        yield
    except docker.errors.ImageNotFound as error:
        raise ImageNotFound(error.explanation or str(error)) from error
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
        raise DockerUnavailable(f"the docker engine did not answer: {error}") from error
    except docker.errors.DockerException as error:
        if "Connection" in str(error) or "connect" in str(error):
            raise DockerUnavailable(f"the docker engine did not answer: {error}") from error
        raise RunnerError(f"docker: {error}") from error


@dataclass
class ContainerSpec:
    """Everything that makes one container of the runner."""

    image: str
    command: list[str]
    user: str
    name: str
    labels: dict[str, str]
    # Volume name -> where it is mounted: {"bind": path, "mode": "rw" or "ro"}.
    binds: dict[str, dict[str, str]]
    limits: dict[str, Any]
    environment: dict[str, str] = field(default_factory=dict)
    working_dir: str = "/sandboxes"
    # Tars to unpack (as root, by the engine) into folders of the container before it starts.
    archives: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Outcome:
    """How a container ended and what it wrote (stdout capped at the caller's limit).

    exit_code and oom_killed are None when the caller's `reported` found all it needs in
    stdout: the engine is then not asked.
    """

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    oom_killed: bool | None
    killed: bool
    elapsed_s: float


def run_container(
    client: docker.DockerClient,
    spec: ContainerSpec,
    stdin: bytes,
    deadline_s: float,
    stdout_limit: int,
    reported: Callable[[bytes], bool] | None = None,
) -> Outcome:
    """Creates, starts and removes one container, feeding it stdin and reading its output.

    The container is killed when deadline_s passes, and is gone before this returns. When
    its output ended in time and reported(stdout) is true, its exit is not awaited nor
    inspected: the removal ends it, if it has not ended yet.
    """
    api = client.api
    with docker_errors():
        container_id = api.create_container(
            spec.image,
            spec.command,
            user=spec.user,
            name=spec.name,
            labels=spec.labels,
            environment=spec.environment,
            working_dir=spec.working_dir,
            volumes=[mount["bind"] for mount in spec.binds.values()],
            # Not detached, so the SDK also sets StdinOnce: the container's stdin ends when
            # the worker half-closes its end of the attach stream. Nothing to send: no stdin.
            stdin_open=bool(stdin),
            host_config=api.create_host_config(binds=spec.binds, **spec.limits),
        )["Id"]
        try:
            return _run(api, container_id, spec, stdin, deadline_s, stdout_limit, reported)
        finally:
            remove_container(client, container_id)


def _run(
    api: docker.APIClient,
    container_id: str,
    spec: ContainerSpec,
    stdin: bytes,
    deadline_s: float,
    stdout_limit: int,
    reported: Callable[[bytes], bool] | None,
) -> Outcome:
    for path, data in spec.archives:
        try:
            api.put_archive(container_id, path, data)
        except docker.errors.NotFound as error:
            raise KataNotFound(
                f"{path} is missing from the volume of {spec.name}: PUT the kata"
            ) from error
    attached = api.attach_socket(
        container_id, params={"stdin": int(bool(stdin)), "stdout": 1, "stderr": 1, "stream": 1}
    )
    sock: socket.socket = getattr(attached, "_sock", attached)
    started = time.monotonic()
    try:
        api.start(container_id)
        metrics.CONTAINERS_STARTED.labels(spec.labels.get(ROLE_LABEL, "")).inc()
        sock.settimeout(deadline_s)
        if stdin:
            with contextlib.suppress(OSError):  # a container that ends early stops reading
                sock.sendall(stdin)
                sock.shutdown(socket.SHUT_WR)
        stdout, stderr, in_time = _read_streams(sock, started + deadline_s, stdout_limit)
    finally:
        sock.close()
        attached.close()
    if not in_time:
        log.info("container %s passed its deadline of %.1f s: killing it", spec.name, deadline_s)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            api.kill(container_id)
        metrics.CONTAINERS_KILLED.inc()
    elapsed_s = time.monotonic() - started
    if in_time and reported is not None and reported(stdout):
        return Outcome(None, stdout, stderr, None, killed=False, elapsed_s=elapsed_s)
    exit_code = int(api.wait(container_id, timeout=REMOVAL_WAIT_S)["StatusCode"])
    state = api.inspect_container(container_id)["State"]
    return Outcome(
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr,
        oom_killed=bool(state.get("OOMKilled")),
        killed=not in_time,
        elapsed_s=elapsed_s,
    )


def _read_streams(
    sock: socket.socket, deadline: float, stdout_limit: int
) -> tuple[bytes, bytes, bool]:
    """Reads the multiplexed attach stream until it ends or the deadline passes.

    Keeps the first stdout_limit bytes of stdout and a little of stderr; the rest is read
    and dropped. Returns stdout, stderr, and whether the stream ended in time.
    """
    streams = {1: bytearray(), 2: bytearray()}
    limits = {1: stdout_limit, 2: STDERR_KEPT_BYTES}
    pending = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(streams[1]), bytes(streams[2]), False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return bytes(streams[1]), bytes(streams[2]), False
        if not chunk:
            return bytes(streams[1]), bytes(streams[2]), True
        pending += chunk
        while len(pending) >= ATTACH_HEADER.size:
            stream, size = ATTACH_HEADER.unpack_from(pending)
            if len(pending) < ATTACH_HEADER.size + size:
                break
            payload = pending[ATTACH_HEADER.size : ATTACH_HEADER.size + size]
            del pending[: ATTACH_HEADER.size + size]
            kept = streams.get(stream)
            if kept is not None and len(kept) < limits[stream]:
                kept += payload[: limits[stream] - len(kept)]


def remove_unmade_volume(client: docker.DockerClient, name: str, label: str) -> bool:
    """True when the volume is not one the runner made: missing, or made by the engine for a
    container that mounted a name no longer there (without the runner's `label`), which is
    removed."""
    with docker_errors():
        try:
            volume = client.api.inspect_volume(name)
        except docker.errors.NotFound:
            return True
        if (volume.get("Labels") or {}).get(label):
            return False
        log.info("removing volume %s: the engine made it for a container", name)
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_volume(name)
        return True


def remove_container(client: docker.DockerClient, container_id: str) -> None:
    """Force-removes a container and returns only once the engine no longer knows it."""
    with docker_errors():
        try:
            client.api.remove_container(container_id, force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            if error.status_code != 409:  # 409: a removal is already in progress
                raise
        give_up = time.monotonic() + REMOVAL_WAIT_S
        while time.monotonic() < give_up:
            try:
                client.api.inspect_container(container_id)
            except docker.errors.NotFound:
                return
            time.sleep(0.1)
        raise RunnerError(f"container {container_id} was not removed in {REMOVAL_WAIT_S} s")
