"""A small in-memory engine for the unit tests of the logic above the engine seam.

It keeps containers, volumes and images in dicts and records every container it was asked
to run; `behave` decides what a run container does, and what a live container's agent
answers. What it cannot fake (the agent in a real container) is left to the integration
tests, against DockerEngine.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runner.errors import ContainerGone, ImageNotFound, VolumeInUse
from runner.settings import normalise_image_name
from sandbox.engine import Container, ContainerSpec, Image, Outcome, Volume

Behaviour = Callable[[ContainerSpec, bytes], Outcome]


def exits(code: int, stdout: bytes = b"") -> Behaviour:
    """A container that writes stdout and exits with code."""
    return lambda spec, stdin: Outcome(code, stdout, b"", False, killed=False, elapsed_s=0.01)


def report(*headers: tuple[str, bytes, bytes]) -> bytes:
    """A report of the agent's: each (kind, name, content), then the end header."""
    heads = b"".join(
        kind.encode() + name + b"\0" + str(len(body)).encode() + b"\n"
        for kind, name, body in headers
    )
    return heads + b".\x000\n" + b"".join(body for _, _, body in headers)


def answer(request: bytes, root: bytes, files: bytes = b".\x000\n") -> bytes:
    """The agent's answer to a framed request: its nonce, the two reports' sizes, both."""
    nonce = json.loads(request.split(b"\n", 1)[1])["nonce"].encode()
    return b"%s %d %d\n%s%s" % (nonce, len(root), len(files), root, files)


def ran(
    status: int = 0, stdout: bytes = b"", *, clean: bool = True, oom_kills: int = 0
) -> Behaviour:
    """A container whose agent answers a run (or a look) with this status and stdout, its
    look clean or not, and a files' report with no change."""

    def behave(spec: ContainerSpec, stdin: bytes) -> Outcome:
        look = [("Z", b"1", b"")] if clean else [("D", b"tasks:3", b"")]
        root = report(
            ("S", str(status).encode(), b""),
            ("K", str(oom_kills).encode(), b""),
            ("O", b"", stdout),
            *look,
        )
        exit_code = 0 if spec.command[-1] == "once" else None
        return Outcome(exit_code, answer(stdin, root), b"", False, killed=False, elapsed_s=0.01)

    return behave


@dataclass
class StubEngine:
    """An Engine in memory."""

    now: float = 1_000_000.0  # the creation time given to containers made here
    behave: Behaviour = field(default_factory=lambda: exits(0))
    containers_: dict[str, tuple[Container, tuple[str, ...]]] = field(default_factory=dict)
    volumes_: dict[str, Volume] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)
    image_files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (image id, path)
    files_read: list[tuple[str, str]] = field(default_factory=list)
    ran: list[ContainerSpec] = field(default_factory=list)
    started: list[ContainerSpec] = field(default_factory=list)  # containers that run on
    removed: list[str] = field(default_factory=list)
    # The requests written to running containers' agents, and the containers' specs.
    asked: list[tuple[str, bytes]] = field(default_factory=list)
    specs: dict[str, ContainerSpec] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def add_container(
        self,
        labels: Mapping[str, str],
        *,
        created: float | None = None,
        mounts: tuple[str, ...] = (),
    ) -> str:
        """A container left on the engine (as a crashed worker leaves one); its id."""
        container_id = f"c{next(self._ids):011d}"
        made = Container(container_id, dict(labels), self.now if created is None else created)
        self.containers_[container_id] = (made, mounts)
        return container_id

    def containers(self, labels: Mapping[str, str], *, volume: str = "") -> list[Container]:
        if volume:
            return [c for c, mounts in self.containers_.values() if volume in mounts]
        return [
            c
            for c, _ in self.containers_.values()
            if all(c.labels.get(k) == v for k, v in labels.items())
        ]

    def remove_container(self, container_id: str) -> None:
        if self.containers_.pop(container_id, None) is not None:
            self.removed.append(container_id)

    def run_container(
        self,
        spec: ContainerSpec,
        stdin: bytes,
        deadline_s: float,
        stdout_limit: int,
        reported: Callable[[bytes], bool] | None = None,
    ) -> Outcome:
        self.ran.append(spec)
        for volume in spec.binds:
            if not volume.startswith("/"):  # a host folder is not a volume
                self.volumes_.setdefault(volume, Volume(volume, {}))  # as the engine does
        return self._behaving(spec, stdin, reported)

    def start_container(self, spec: ContainerSpec) -> str:
        self.image(spec.image)  # ImageNotFound as the engine would
        for volume in spec.binds:
            self.volumes_.setdefault(volume, Volume(volume, {}))
        self.started.append(spec)
        container_id = self.add_container(spec.labels, mounts=tuple(spec.binds))
        self.specs[container_id] = spec
        return container_id

    def ask(self, container_id: str, request: bytes, nonce: bytes, timeout_s: float) -> bytes:
        if container_id not in self.containers_:
            raise ContainerGone(f"container {container_id} is gone")
        self.asked.append((container_id, request))
        outcome = self.behave(self.specs[container_id], request)
        return b"" if outcome.killed else outcome.stdout

    def _behaving(
        self, spec: ContainerSpec, stdin: bytes, reported: Callable[[bytes], bool] | None
    ) -> Outcome:
        """What behave makes the run do; as the engine, not asked further when its report
        is whole."""
        outcome = self.behave(spec, stdin)
        if reported is not None and outcome.killed is False and reported(outcome.stdout):
            return Outcome(None, outcome.stdout, outcome.stderr, None, False, outcome.elapsed_s)
        return outcome

    def create_volume(
        self, name: str, labels: Mapping[str, str], options: Mapping[str, str] | None = None
    ) -> None:
        self.volumes_.setdefault(name, Volume(name, dict(labels), options=dict(options or {})))

    def volume(self, name: str) -> Volume | None:
        return self.volumes_.get(name)

    def volumes(self, labels: Mapping[str, str] | None = None, prefix: str = "") -> list[Volume]:
        return [
            v
            for v in self.volumes_.values()
            if v.name.startswith(prefix)
            and all(v.labels.get(k) == value for k, value in (labels or {}).items())
        ]

    def remove_volume(self, name: str) -> bool:
        if self.containers(labels={}, volume=name):
            raise VolumeInUse(f"volume {name} is in use")
        return self.volumes_.pop(name, None) is not None

    def image(self, name: str) -> Image:
        found = self.images.get(normalise_image_name(name)) or next(
            (i for i in self.images.values() if i.id == name), None
        )
        if found is None:
            raise ImageNotFound(f"No such image: {name}")
        return found

    def pull(self, repository: str, tag: str) -> None:
        if f"{repository}:{tag}" not in self.images:
            raise ImageNotFound(f"{repository} could not be pulled: not in the stub registry")

    def image_file(
        self, image: str, path: str, name: str, labels: Mapping[str, str], limit_bytes: int
    ) -> bytes | None:
        image_id = self.image(image).id
        self.files_read.append((image_id, path))
        found = self.image_files.get((image_id, path))
        return None if found is None else found[:limit_bytes]
