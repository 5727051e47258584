"""Fixtures for tests against the real docker engine and the local images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from runner.models import Job, NewAvatar, NewKata, OldAvatar, OldKata, Run
from sandbox import disk, operations, runs
from sandbox.engine import Container
from sandbox.host import ROLE_LABEL, Host
from sandbox.images import Images
from sandbox.kata_containers import LIVE_ROLE, KataContainers
from sandbox.limits import LOOP_DEVICES
from sandbox.results import RunResult
from tests.conftest import SHELL, new_kata_id, sdk


@dataclass
class Ops:
    """The sandbox operations of one host, called with plain arguments."""

    host: Host
    images: Images
    live: KataContainers | None = None  # None: a fresh container for every run

    @classmethod
    def of(cls, host: Host, mode: str = "fresh") -> Ops:
        return cls(host, Images.of(host), KataContainers(host) if mode == "kata" else None)

    def new_kata(self, kata_id: str, image: str = SHELL, now: datetime | None = None) -> Any:
        return operations.new_kata(
            self.host, self.images, Job(kata_id, NewKata(image_name=image)), now
        )

    def old_kata(self, kata_id: str) -> Any:
        if self.live is not None:
            self.live.dropped(kata_id)
        return operations.old_kata(self.host, self.images, Job(kata_id, OldKata()))

    def new_avatar(
        self,
        kata_id: str,
        avatar: str,
        image: str,
        files: dict[str, str],
        now: datetime | None = None,
    ) -> Any:
        request = NewAvatar(image_name=image, starting_files=files)
        return operations.new_avatar(self.host, self.images, Job(kata_id, request, avatar), now)

    def old_avatar(self, kata_id: str, avatar: str) -> Any:
        return operations.old_avatar(self.host, self.images, Job(kata_id, OldAvatar(), avatar))

    def run(
        self,
        kata_id: str,
        avatar: str,
        image: str,
        changed: dict[str, str] | None = None,
        deleted: list[str] | tuple[str, ...] = (),
        max_seconds: int = 10,
        *,
        now: datetime | None = None,
        write_run_at: bool = True,
    ) -> RunResult:
        request = Run(
            image_name=image,
            changed_files=dict(changed or {}),
            deleted_filenames=list(deleted),
            max_seconds=max_seconds,
        )
        job = Job(kata_id, request, avatar)
        return runs.run(
            self.host, self.images, job, live=self.live, write_run_at=write_run_at, now=now
        )


@pytest.fixture(params=["kata", "fresh"])
def ops(request: pytest.FixtureRequest, host: Host, images: Images) -> Ops:
    """The sandbox operations on the real engine, in each mode of RUNNER_RUN_CONTAINER: an
    exec into the kata's live container, or a fresh container for every run."""
    return Ops(host, images, KataContainers(host) if request.param == "kata" else None)


@pytest.fixture
def kata(ops: Ops) -> Iterator[str]:
    """A new kata on the shell image, removed after the test."""
    kata_id = new_kata_id()
    ops.new_kata(kata_id, SHELL)
    yield kata_id
    ops.old_kata(kata_id)


Runner = Callable[..., dict[str, Any]]


@pytest.fixture
def run_sh(ops: Ops, kata: str) -> Runner:
    """Runs a cyber-dojo.sh in the kata as an avatar (lion unless told), creating it first."""
    made: set[str] = set()

    def run(
        script: str,
        avatar: str = "lion",
        max_seconds: int = 10,
        image: str = SHELL,
        changed: dict[str, str] | None = None,
        deleted: list[str] | None = None,
    ) -> dict[str, Any]:
        if avatar not in made:
            ops.new_avatar(kata, avatar, image, {})
            made.add(avatar)
        files = {"cyber-dojo.sh": script, **(changed or {})}
        return dict(ops.run(kata, avatar, image, files, deleted or [], max_seconds))

    return run


def kata_containers(host: Host, kata_id: str) -> list[Container]:
    """Every container of the kata, running or not: its live one too."""
    return host.kata_containers(kata_id, mounting=True)


def run_containers(host: Host, kata_id: str) -> list[Container]:
    """The kata's containers but its live one (which serves its runs after a clean one)."""
    return [c for c in kata_containers(host, kata_id) if c.labels.get(ROLE_LABEL) != LIVE_ROLE]


def assert_still_works(run: Runner, avatar: str = "lion") -> None:
    """The avatar's next run runs and reports normally."""
    result = run("echo still works", avatar=avatar)
    assert result["stdout"]["content"] == "still works\n"
    assert result["status"] == 0
    assert result["colour"] == "green"


def run_with_loop_devices(host: Host, image: str, command: list[str], **options: Any) -> Any:
    """Runs a container of ours on the host with what attaching loop devices takes (the
    host's /dev, SYS_ADMIN, the loop devices' cgroup rules) and nothing more; options as
    docker's containers.run takes them."""
    return sdk(host).containers.run(
        image,
        command,
        network_mode="none",
        cap_drop=["ALL"],
        cap_add=["SYS_ADMIN"],
        device_cgroup_rules=LOOP_DEVICES,
        volumes={"/dev": {"bind": "/dev", "mode": "rw"}},
        labels=host.ours(),
        **options,
    )


def detach_as_a_reboot_does(host: Host, kata_id: str) -> None:
    """Detaches the kata's loop device and removes its link, as a reboot empties /dev."""
    link = f"{disk.LINKS}/{disk.name(host, kata_id)}"
    command = ["sh", "-c", f'losetup -d "$(readlink {link})" && rm {link}']
    run_with_loop_devices(host, host.settings.helper_image, command, remove=True)
