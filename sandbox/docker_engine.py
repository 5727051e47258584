"""The real engine: every Docker SDK call of the runner, and nothing else, with the SDK's
errors converted into the runner's."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import socket
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import docker
import docker.errors
import requests.exceptions

from runner import metrics
from runner.errors import (
    CommandMissing,
    ContainerGone,
    DockerUnavailable,
    ImageNotFound,
    KataNotFound,
    RunnerError,
    VolumeInUse,
    VolumeNotMountable,
)
from sandbox import attach
from sandbox.engine import (
    ROLE_LABEL,
    Container,
    ContainerSpec,
    Image,
    Outcome,
    Volume,
    label_filter,
)

log = logging.getLogger(__name__)

REMOVAL_WAIT_S = 30.0
# How the engine says that a local volume's device would not mount (a kata's disk not
# attached), and which volume: "failed to mount local volume: mount DEVICE:.../volumes/NAME/_data".
UNMOUNTABLE = re.compile(r"failed to mount local volume: .*/volumes/([^/:]+)/_data")
# How runc says that a container's command is not there: 'exec: "PATH": stat PATH: no such file'
# (no init), and how the engine's init says it: "exec PATH failed: No such file or directory".
NO_COMMAND = re.compile(r'exec: "([^"]+)": stat [^:]+: no such file or directory')
NO_COMMAND_INIT = re.compile(rb"exec (\S+) failed: No such file or directory")
NO_COMMAND_STATUS = 127


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
        unmountable = UNMOUNTABLE.search(str(error))
        if isinstance(error, docker.errors.APIError) and unmountable:
            raise VolumeNotMountable(str(error.explanation), unmountable[1]) from error
        no_command = NO_COMMAND.search(str(error))
        if isinstance(error, docker.errors.APIError) and no_command:
            raise CommandMissing(str(error.explanation), no_command[1]) from error
        if "Connection" in str(error) or "connect" in str(error):
            raise DockerUnavailable(f"the docker engine did not answer: {error}") from error
        raise RunnerError(f"docker: {error}") from error


def _create(api: docker.APIClient, spec: ContainerSpec, *, detach: bool, stdin_open: bool) -> str:
    """Creates the container the spec describes; its id."""
    return str(
        api.create_container(
            spec.image,
            spec.command,
            user=spec.user,
            name=spec.name,
            labels=spec.labels,
            environment=spec.environment,
            working_dir=spec.working_dir,
            volumes=[mount["bind"] for mount in spec.binds.values()],
            detach=detach,
            stdin_open=stdin_open,
            host_config=api.create_host_config(binds=spec.binds, **spec.limits),
        )["Id"]
    )


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
        stdout, stderr, in_time = attach.read_streams(sock, started + deadline_s, stdout_limit)
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
    missing = NO_COMMAND_INIT.search(stderr)
    if exit_code == NO_COMMAND_STATUS and missing:
        raise CommandMissing(stderr.decode(errors="replace").strip(), missing[1].decode())
    state = api.inspect_container(container_id)["State"]
    return Outcome(
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr,
        oom_killed=bool(state.get("OOMKilled")),
        killed=not in_time,
        elapsed_s=elapsed_s,
    )


class DockerEngine:
    """The engine at a docker host, through the docker SDK."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.sdk = client  # for test scaffolding only (building images, foreign containers)
        self.api: docker.APIClient = client.api

    @classmethod
    def connect(cls, base_url: str, timeout_s: int) -> DockerEngine:
        """The engine at base_url, its API version negotiated."""
        with docker_errors():
            client = docker.DockerClient(base_url=base_url, version="auto", timeout=timeout_s)
        # The engine is never reached through a proxy, and requests would otherwise read the
        # proxy variables of the whole environment again on every call (a twentieth of a
        # worker's CPU in a profile of short runs).
        client.api.trust_env = False
        return cls(client)

    def containers(self, labels: Mapping[str, str], *, volume: str = "") -> list[Container]:
        filters: dict[str, Any] = {"volume": volume} if volume else {"label": label_filter(labels)}
        with docker_errors():
            found = self.api.containers(all=True, filters=filters)
        return [Container(c["Id"], c.get("Labels") or {}, float(c["Created"])) for c in found]

    def remove_container(self, container_id: str) -> None:
        with docker_errors():
            try:
                self.api.remove_container(container_id, force=True)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as error:
                if error.status_code != 409:  # 409: a removal is already in progress
                    raise
            give_up = time.monotonic() + REMOVAL_WAIT_S
            while time.monotonic() < give_up:
                try:
                    self.api.inspect_container(container_id)
                except docker.errors.NotFound:
                    return
                time.sleep(0.1)
        raise RunnerError(f"container {container_id} was not removed in {REMOVAL_WAIT_S} s")

    def run_container(
        self,
        spec: ContainerSpec,
        stdin: bytes,
        deadline_s: float,
        stdout_limit: int,
        reported: Callable[[bytes], bool] | None = None,
    ) -> Outcome:
        api = self.api
        with docker_errors():
            # Not detached, so the SDK also sets StdinOnce: the container's stdin ends when
            # the worker half-closes its end of the attach stream. Nothing to send: no stdin.
            container_id = _create(api, spec, detach=False, stdin_open=bool(stdin))
            try:
                return _run(api, container_id, spec, stdin, deadline_s, stdout_limit, reported)
            finally:
                self.remove_container(container_id)

    def start_container(self, spec: ContainerSpec) -> str:
        api = self.api
        with docker_errors():
            # Detached: stdin stays open when an attach ends (no StdinOnce).
            container_id = _create(api, spec, detach=True, stdin_open=spec.open_stdin)
            try:
                api.start(container_id)
            except BaseException:
                self.remove_container(container_id)
                raise
        metrics.CONTAINERS_STARTED.labels(spec.labels.get(ROLE_LABEL, "")).inc()
        return container_id

    def ask(self, container_id: str, request: bytes, nonce: bytes, timeout_s: float) -> bytes:
        api = self.api
        with docker_errors():
            try:
                attached = api.attach_socket(
                    container_id, params={"stdin": 1, "stdout": 1, "stream": 1}
                )
            except docker.errors.NotFound as error:
                raise ContainerGone(f"container {container_id[:12]} is gone") from error
            except docker.errors.APIError as error:
                if error.status_code == 409:
                    raise ContainerGone(f"container {container_id[:12]} is not running") from error
                raise
            sock: socket.socket = getattr(attached, "_sock", attached)
            try:
                sock.sendall(request)
                answer = attach.read_answer(sock, nonce, time.monotonic() + timeout_s)
            except OSError:
                answer = b""
            finally:
                sock.close()
                attached.close()
            if not answer:
                # The engine attaches to a stopped container too, which never answers.
                try:
                    found = api.inspect_container(container_id)
                except docker.errors.NotFound as error:
                    raise ContainerGone(f"container {container_id[:12]} is gone") from error
                state, command = found["State"], found["Config"]["Cmd"] or [""]
                if not state.get("Running") and state.get("ExitCode") == NO_COMMAND_STATUS:
                    raise CommandMissing(f"container {container_id[:12]} exited 127", command[0])
                if not state.get("Running"):
                    raise ContainerGone(f"container {container_id[:12]} is not running")
            return answer

    def create_volume(
        self, name: str, labels: Mapping[str, str], options: Mapping[str, str] | None = None
    ) -> None:
        with docker_errors():
            self.api.create_volume(
                name, driver="local", driver_opts=dict(options or {}) or None, labels=dict(labels)
            )

    def volume(self, name: str) -> Volume | None:
        with docker_errors():
            try:
                found = self.api.inspect_volume(name)
            except docker.errors.NotFound:
                return None
        return _volume(found)

    def volumes(self, labels: Mapping[str, str] | None = None, prefix: str = "") -> list[Volume]:
        filters = {"label": label_filter(labels)} if labels else {"name": prefix}
        with docker_errors():
            found = self.api.volumes(filters=filters)["Volumes"] or []
        return [_volume(v) for v in found if v["Name"].startswith(prefix)]

    def remove_volume(self, name: str) -> bool:
        with docker_errors():
            try:
                self.api.remove_volume(name)
                return True
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as error:
                if error.status_code == 409:
                    raise VolumeInUse(f"volume {name} is in use: {error.explanation}") from error
                raise

    def image(self, name: str) -> Image:
        with docker_errors():
            found = self.api.inspect_image(name)
        config = found.get("Config") or {}
        return Image(
            id=str(found["Id"]),
            labels=config.get("Labels") or {},
            repo_digests=tuple(found.get("RepoDigests") or ()),
        )

    def pull(self, repository: str, tag: str) -> None:
        with docker_errors():
            try:
                for event in self.api.pull(repository, tag=tag or None, stream=True, decode=True):
                    if "error" in event:  # a registry refusal comes inside a 200 stream
                        raise ImageNotFound(f"{repository} could not be pulled: {event['error']}")
            except (docker.errors.NotFound, docker.errors.APIError) as error:
                raise ImageNotFound(
                    f"{repository} could not be pulled: {error.explanation}"
                ) from error

    def image_file(
        self, image: str, path: str, name: str, labels: Mapping[str, str], limit_bytes: int
    ) -> bytes | None:
        api = self.api
        with docker_errors():
            container_id = api.create_container(
                image, ["true"], name=name, labels=dict(labels), network_disabled=True
            )["Id"]
            try:
                stream, _ = api.get_archive(container_id, path)
                archive = _bounded(stream, limit_bytes + 64 * 1024)
            except docker.errors.NotFound:
                return None
            finally:
                self.remove_container(container_id)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = next(iter(tar), None)
            read = tar.extractfile(member) if member is not None and member.isfile() else None
            return None if read is None else read.read(limit_bytes)


def _bounded(chunks: Iterator[bytes], limit_bytes: int) -> bytes:
    """The first limit_bytes of a stream; the rest is not read."""
    kept = bytearray()
    for chunk in chunks:
        kept += chunk
        if len(kept) >= limit_bytes:
            break
    return bytes(kept[:limit_bytes])


def plain_client(base_url: str = "unix:///var/run/docker.sock", timeout_s: int = 120) -> Any:
    """A docker SDK client as a direct user of the SDK makes one: the bench's raw floor and
    its scaffolding, which measure or clean up around the runner, not through it."""
    return docker.DockerClient(base_url=base_url, version="auto", timeout=timeout_s)


def _volume(found: dict[str, Any]) -> Volume:
    return Volume(
        found["Name"],
        found.get("Labels") or {},
        found.get("CreatedAt"),
        found.get("Options") or {},
    )
