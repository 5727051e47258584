"""The seam to the docker engine: what the rest of the runner asks of a docker host.

`Engine` is the interface (containers by label, one container's whole life, the agent's
answer, volumes, images) and the values it passes. sandbox/docker_engine.py's DockerEngine is
the real one (the docker SDK, errors converted into the runner's); sandbox/stub_engine.py
holds a small fake for the unit tests of the logic above it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

ROLE_LABEL = "org.cyber-dojo.runner.role"


def label_filter(labels: Mapping[str, str]) -> list[str]:
    """The engine's filter for objects that carry every one of these labels."""
    return [f"{key}={value}" for key, value in labels.items()]


@dataclass(frozen=True)
class Container:
    """A container as a listing shows it."""

    id: str
    labels: Mapping[str, str]
    created: float  # seconds since the epoch


@dataclass(frozen=True)
class Volume:
    """A volume as the engine knows it."""

    name: str
    labels: Mapping[str, str]
    created_at: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)  # the local driver's, if any


@dataclass(frozen=True)
class Image:
    """An image on the host: its id, its labels, the digests it was pulled by."""

    id: str
    labels: Mapping[str, str]
    repo_digests: tuple[str, ...] = ()


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
    # A container that runs on (start_container) keeps its stdin open for every attach that
    # writes to it (ask), not only the first.
    open_stdin: bool = False


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
    container_id: str = ""  # the live container the run ran in


class Engine(Protocol):
    """What the runner asks of a docker engine."""

    def containers(self, labels: Mapping[str, str], *, volume: str = "") -> list[Container]:
        """Every container, running or not, with all these labels (and mounting `volume`,
        when given: then by that alone)."""
        ...

    def remove_container(self, container_id: str) -> None:
        """Force-removes a container; returns once the engine no longer knows it."""
        ...

    def run_container(
        self,
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
        ...

    def start_container(self, spec: ContainerSpec) -> str:
        """Creates and starts a container that runs on its own (no stdin, nothing attached);
        its id. ImageNotFound when its image is not on the host."""
        ...

    def ask(self, container_id: str, request: bytes, nonce: bytes, timeout_s: float) -> bytes:
        """Writes a request to the stdin of a running container's own process (the agent,
        opened with open_stdin), and returns its answer named by nonce (sandbox/report.py's
        parse_answer reads it); empty when none began within timeout_s, cut when it did not
        end in time. ContainerGone when the container is gone or not running."""
        ...

    def create_volume(
        self, name: str, labels: Mapping[str, str], options: Mapping[str, str] | None = None
    ) -> None:
        """Creates the volume (with the local driver's options: type, device, o); nothing
        when it exists."""
        ...

    def volume(self, name: str) -> Volume | None:
        """The volume, None when it does not exist."""
        ...

    def volumes(self, labels: Mapping[str, str] | None = None, prefix: str = "") -> list[Volume]:
        """Volumes with all these labels, or whose name starts with prefix."""
        ...

    def remove_volume(self, name: str) -> bool:
        """Removes the volume: False when it did not exist; VolumeInUse while mounted."""
        ...

    def image(self, name: str) -> Image:
        """The image a name or id stands for on the host; ImageNotFound when none."""
        ...

    def pull(self, repository: str, tag: str) -> None:
        """Pulls an image from its registry; ImageNotFound when the registry refuses."""
        ...

    def image_file(
        self, image: str, path: str, name: str, labels: Mapping[str, str], limit_bytes: int
    ) -> bytes | None:
        """The first limit_bytes of a regular file of the image, read from a container
        created from it and never started (nothing of the image runs); None when the image
        has no such file."""
        ...
