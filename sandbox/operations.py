"""The operations on a kata's volume, one per job kind of API.md but the run (sandbox/runs.py).

Each takes the Host, the Images and the Job (its kata, avatar and typed request) and returns
the job's result; each raises a RunnerError (kata_not_found, avatar_not_found,
image_not_found, docker_unavailable) when it cannot do its job. Every container an operation
starts is removed before it returns.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from runner.errors import (
    AvatarNotFound,
    ImageNotFound,
    KataDiskFull,
    KataNotFound,
    RunnerError,
    VolumeInUse,
)
from runner.identifiers import SANDBOX_GID, avatar_uid, check_kata_id
from runner.models import Job, NewAvatar, NewKata, OldAvatar, OldKata, PullImage
from sandbox import agent, disk
from sandbox import images as image_ops
from sandbox.engine import ContainerSpec
from sandbox.host import Host
from sandbox.images import Images
from sandbox.limits import admin_limits
from sandbox.scripts import Exit

log = logging.getLogger(__name__)

ADMIN_DEADLINE_S = 60.0
VOLUME_IN_USE_WAIT_S = 10.0


def new_kata(
    host: Host, images: Images, job: Job[NewKata], now: datetime | None = None
) -> dict[str, str]:
    """Creates the kata's volume, on a disk of its own, if it is missing; lays it out,
    records the hello time. A new kata is made whole or not at all."""
    kata_id = check_kata_id(job.kata_id)
    images.colour_rules(job.request.image_name)  # image_not_found before anything is made
    volume = host.volume_name(kata_id)
    if host.engine.volume(volume) is not None:
        _admin(host, job, "root", kata_step(now))
        return {}
    try:
        options = disk.make(host, kata_id)
        host.engine.create_volume(volume, host.labels(kata_id, "kata"), options)
        _admin(host, job, "root", kata_step(now))
    except BaseException:
        # A volume with no layout would answer every later job kata_not_found for a wrong
        # reason, and a disk with no volume would hold a loop device and the host's space.
        try:
            old_kata(host, images, Job(kata_id, OldKata()))
        except Exception as error:  # the engine away: the sweep frees the disk later
            log.warning("kata %s: what was made of it is not removed: %s", kata_id, error)
        raise
    return {}


def kata_step(now: datetime | None) -> list[str]:
    """The agent's admin step that lays a kata's volume out and records its hello time."""
    return ["kata", iso(now)]


def old_kata(host: Host, images: Images, job: Job[OldKata]) -> dict[str, str]:
    """Removes every container of the kata, confirms they are gone, then removes its volume,
    then its disk."""
    kata_id = check_kata_id(job.kata_id)
    volume = host.volume_name(kata_id)
    # Also with no bound now: a kata made under one keeps its disk.
    on_disk = bool(host.settings.kata_disk_bytes) or disk.has_disk(host.engine.volume(volume))
    host.remove_kata_containers(kata_id)
    give_up = time.monotonic() + VOLUME_IN_USE_WAIT_S
    while True:
        try:
            host.engine.remove_volume(volume)
            if on_disk:
                disk.remove(host, kata_id)
            return {}
        except VolumeInUse:
            # A container of another runner instance, or one created between the listing
            # and now: remove again, then retry.
            if time.monotonic() > give_up:
                raise
            host.remove_kata_containers(kata_id)
            time.sleep(0.1)


def new_avatar(
    host: Host, images: Images, job: Job[NewAvatar], now: datetime | None = None
) -> dict[str, str]:
    """Sets the avatar's sandbox to exactly starting_files, owned by the avatar's uid."""
    check_kata_id(job.kata_id)
    uid = avatar_uid(job.avatar_name)
    images.colour_rules(job.request.image_name)
    _admin(host, job, "root", ["avatar", job.avatar_name, str(uid), str(SANDBOX_GID), iso(now)])
    fill(host, job, job.request.starting_files)
    return {}


def fill(host: Host, job: Job[Any], files: dict[str, str]) -> None:
    """Sets the avatar's existing sandbox to exactly `files`, as the avatar's uid."""
    uid = avatar_uid(job.avatar_name)
    _admin(host, job, f"{uid}:{SANDBOX_GID}", ["fill", job.avatar_name], stdin=agent.fill(files))


def old_avatar(host: Host, images: Images, job: Job[OldAvatar]) -> dict[str, str]:
    """Removes the avatar's sandbox; succeeds if it is already gone."""
    check_kata_id(job.kata_id)
    uid = avatar_uid(job.avatar_name)
    try:
        _admin(host, job, f"{uid}:{SANDBOX_GID}", ["empty", job.avatar_name])
    except AvatarNotFound:
        return {}
    _admin(host, job, "root", ["remove", job.avatar_name])
    return {}


def pull_image(host: Host, images: Images, job: Job[PullImage]) -> dict[str, str]:
    """Pulls (or updates) the image on the host; the digest it now stands for. With
    if_missing, an image already on the host is not pulled again."""
    if job.request.if_missing:
        try:
            return image_ops.digest(host.engine, job.request.image_name)
        except ImageNotFound:
            pass
    return image_ops.pull(host.engine, job.request.image_name)


def _admin(host: Host, job: Job[Any], user: str, args: list[str], *, stdin: bytes = b"") -> None:
    """Runs one admin step of the agent in a container of the helper image on the kata's
    volume."""
    kata_id = job.kata_id
    volume = host.volume_name(kata_id)
    # Checked first because the engine would silently create a missing named volume.
    if host.engine.volume(volume) is None:
        raise KataNotFound(f"kata {kata_id} has no volume: PUT the kata")
    job_id = job.job_id or new_job_id()
    spec = ContainerSpec(
        image=host.settings.helper_image,
        command=[agent.AGENT, "admin", *args],
        user=user,
        name=f"{host.settings.instance}-{kata_id}-{args[0]}-{job_id}",
        labels=host.labels(kata_id, "admin", job_id=job_id, fence=str(job.fence)),
        binds={volume: {"bind": "/sandboxes", "mode": "rw"}, **agent.bind()},
        limits=admin_limits(host.settings),
    )
    outcome = disk.remounting(
        host,
        kata_id,
        lambda: agent.present(
            host.engine,
            host.settings.helper_image,
            lambda: host.engine.run_container(spec, stdin, ADMIN_DEADLINE_S, 4096),
        ),
        # new_kata's layout: a kata whose disk image is gone gets a new, empty one.
        make_missing=args[0] == "kata",
    )
    if outcome.exit_code == Exit.NO_SANDBOX:
        raise AvatarNotFound(f"kata {kata_id} has no sandbox for {job.avatar_name}")
    if outcome.exit_code == Exit.NO_LAYOUT:
        raise KataNotFound(f"kata {kata_id} has a volume but no .runner folder: PUT the kata again")
    if outcome.exit_code != 0 and b"no space left on device" in outcome.stderr.lower():
        raise KataDiskFull(f"the disk of kata {kata_id} is full: its avatars must delete files")
    if outcome.exit_code != 0 or outcome.killed:
        raise RunnerError(
            f"admin step {args[0]} on kata {kata_id} failed with status {outcome.exit_code}: "
            f"{outcome.stderr.decode(errors='replace').strip()}"
        )


def new_job_id() -> str:
    """An id for the containers of a call that is no job (a test's, a bench's)."""
    return "x" + secrets.token_hex(6)


def iso(now: datetime | None) -> str:
    """A time as the volume records it (ISO-8601 UTC with a Z, to the microsecond)."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
