"""The operations on a kata's volume, one per job kind of API.md.

Each takes the Host, the Images and the Job (its kata, avatar and typed request) and returns
the job's result; each raises a RunnerError (kata_not_found, avatar_not_found,
image_not_found, docker_unavailable) when it cannot do its job. Every container an operation
starts is removed before it returns.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from runner import metrics
from runner.errors import (
    AvatarNotFound,
    ContainerGone,
    ImageNotFound,
    KataDiskFull,
    KataNotFound,
    RunnerError,
    VolumeInUse,
)
from runner.identifiers import SANDBOX_GID, avatar_uid, check_kata_id
from runner.models import Job, NewAvatar, NewKata, OldAvatar, OldKata, PullImage, Run
from sandbox import agent, disk
from sandbox import images as image_ops
from sandbox.engine import ContainerSpec, Outcome
from sandbox.host import Host
from sandbox.images import Images
from sandbox.kata_containers import KataContainers
from sandbox.limits import admin_limits, run_limits
from sandbox.report import Frames, parse_answer
from sandbox.results import RunResult, run_result
from sandbox.scripts import Exit
from traffic_lights.rules import ColourRules

log = logging.getLogger(__name__)

ADMIN_DEADLINE_S = 60.0
RESULT_BYTES = 64 * 1024 * 1024  # the most of the agent's answer the worker reads
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
    return ["kata", _iso(now)]


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
    _admin(host, job, "root", ["avatar", job.avatar_name, str(uid), str(SANDBOX_GID), _iso(now)])
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


def run(
    host: Host,
    images: Images,
    job: Job[Run],
    *,
    live: KataContainers | None = None,
    write_run_at: bool = True,
    now: datetime | None = None,
    rules: Callable[[str], ColourRules | str] | None = None,
) -> RunResult:
    """Deletes, writes, then runs cyber-dojo.sh in the avatar's sandbox; judges the colour.

    With `live`, the run is a request to the agent of the kata's live container, which is
    kept only when the agent finds it clean after the run; else the run has a fresh container
    of its own, whose command is the agent. The volume is not looked up first: a missing
    volume, which the engine makes empty, has no layout for the agent's record of the run's
    time, and is then removed again. `rules` gives the
    colour rules (or the reason there are none) of the image id it ran, instead of the
    image's own.
    """
    check_kata_id(job.kata_id)
    agent.make_present(host.engine, host.settings.helper_image)
    spec, request = _run_spec(host, images, job, write_run_at, now)
    try:
        outcome, frames = disk.remounting(
            host, job.kata_id, lambda: _contain(host, images, job, spec, request, live)
        )
    except KataNotFound:
        if live is not None:
            live.remove(job.kata_id, "lost")  # it mounts the volume the engine made
        host.remove_unmade_volume(host.volume_name(job.kata_id))
        raise
    # The kernel's count of OOM kills in a live container, which the report cannot hide.
    oom_kills = 0 if live is None else _keep_or_remove(live, job, outcome, frames)
    _check_sandbox(host, job, outcome, frames)
    judged_by = rules(spec.image) if rules else images.rules_of(job.request.image_name, spec.image)
    return _judge(host, job, judged_by, outcome, frames, oom_kills)


def _run_spec(
    host: Host, images: Images, job: Job[Run], write_run_at: bool, now: datetime | None
) -> tuple[ContainerSpec, agent.RunRequest]:
    """The run container, made from the id the image name stands for now, and the agent's
    request."""
    settings, kata_id, avatar_name = host.settings, job.kata_id, job.avatar_name
    job_id = job.job_id or _job_id()
    sandbox = f"/sandboxes/{avatar_name}"
    request = agent.RunRequest(
        uid=avatar_uid(avatar_name),
        gid=SANDBOX_GID,
        sandbox=sandbox,
        # Only these: the runner's own environment (its Redis URL, its token) never passes.
        env={
            "CYBER_DOJO_KATA_ID": kata_id,
            "CYBER_DOJO_AVATAR_NAME": avatar_name,
            "CYBER_DOJO_IMAGE_NAME": job.request.image_name,
            "CYBER_DOJO_SANDBOX": sandbox,
            "HOME": sandbox,
        },
        max_seconds=job.request.max_seconds,
        out_cap=settings.output_bytes + 1,
        file_cap=settings.file_bytes + 1,
        max_files=settings.sandbox_max_files,
        deleted=job.request.deleted_filenames,
        files=job.request.changed_files,
        run_at=_iso(now) if write_run_at else "",
    )
    spec = ContainerSpec(
        image=images.image_id(job.request.image_name),
        command=[agent.AGENT, "once"],
        user="root",
        name=f"{settings.instance}-{kata_id}-{avatar_name}-{job_id}",
        labels=host.labels(kata_id, "run", avatar=avatar_name, job_id=job_id, fence=str(job.fence)),
        binds={host.volume_name(kata_id): {"bind": "/sandboxes", "mode": "rw"}, **agent.bind()},
        limits=run_limits(settings),
        working_dir="/",
    )
    return spec, request


def _contain(
    host: Host,
    images: Images,
    job: Job[Run],
    spec: ContainerSpec,
    request: agent.RunRequest,
    live: KataContainers | None,
) -> tuple[Outcome, Frames]:
    """Runs the run container; again when the image's id went (looked up anew)."""
    # The learner's max_seconds is timed by the agent, from cyber-dojo.sh's start; the
    # container's own deadline also allows for the agent's work around it.
    settings = host.settings
    deadline_s = job.request.max_seconds + settings.kill_grace_s + settings.bookkeeping_s
    try:
        return _run_once(host, job.kata_id, spec, request, deadline_s, live)
    except ImageNotFound:
        # The image went, or its name moved, since its id was looked up: look again.
        images.forget(job.request.image_name)
        spec.image = images.image_id(job.request.image_name)
        return _run_once(host, job.kata_id, spec, request, deadline_s, live)


def _run_once(
    host: Host,
    kata_id: str,
    spec: ContainerSpec,
    request: agent.RunRequest,
    deadline_s: float,
    live: KataContainers | None,
) -> tuple[Outcome, Frames]:
    """The run's outcome and the agent's answer, parsed once: a whole answer spares the
    engine the questions of how the run ended."""
    nonce = agent.nonce()
    if live is not None:
        return _in_live(host, kata_id, spec, agent.run(request, nonce), nonce, deadline_s, live)
    parsed: list[Frames] = []

    def whole(stdout: bytes) -> bool:
        parsed.append(parse_answer(stdout))
        return parsed[-1].whole

    stdin = agent.run(request, nonce)
    outcome = host.engine.run_container(spec, stdin, deadline_s, RESULT_BYTES, whole)
    return outcome, parsed[-1] if parsed else parse_answer(outcome.stdout)


def _in_live(
    host: Host,
    kata_id: str,
    spec: ContainerSpec,
    request: bytes,
    nonce: str,
    deadline_s: float,
    live: KataContainers,
) -> tuple[Outcome, Frames]:
    """The run as a request to the agent of the kata's live container; in a new one when the
    engine says the container is gone or stopped (removed by another worker process, the idle
    sweep, the reaper or an operator; stopped by a restart of the engine). An answer that is
    not whole in time is a killed run: the container is removed."""
    while True:
        container_id, made = live.container_for(kata_id, spec)
        started = time.monotonic()
        try:
            answer = host.engine.ask(container_id, request, nonce.encode(), deadline_s)
        except ContainerGone as error:
            log.info("kata %s: %s: running in a new one", kata_id, error)
            live.lost(kata_id, container_id)
            if made:
                raise
            continue
        metrics.KATA_CONTAINER_RUNS.labels("new" if made else "reused").inc()
        live.used(kata_id)
        frames = parse_answer(answer)
        outcome = Outcome(
            exit_code=None,
            stdout=answer,
            stderr=b"",
            oom_killed=None,
            killed=not frames.complete,
            elapsed_s=time.monotonic() - started,
            container_id=container_id,
        )
        if outcome.killed:
            metrics.CONTAINERS_KILLED.inc()
        return outcome, frames


def _keep_or_remove(live: KataContainers, job: Job[Run], outcome: Outcome, frames: Frames) -> int:
    """Keeps the kata's live container only when its agent, a root process the run cannot
    touch, found it clean after the run: no process but its own, nothing in the places outside
    the sandboxes, no IPC object, nothing ever killed for memory. A run that timed out, was
    not answered whole or failed the agent's own work removes it too. Returns the OOM kills
    the agent counted."""
    clean = frames.whole and frames.left_clean and not frames.faults
    if outcome.killed or not clean or frames.timed_out or frames.oom_kills:
        if frames.dirty:
            log.warning(
                "kata %s: its live container is not clean after %s's run: %s",
                job.kata_id,
                job.avatar_name,
                b" ".join(frames.dirty).decode(errors="replace"),
            )
        live.remove(job.kata_id, "unclean" if frames.dirty else "abnormal_run")
    return frames.oom_kills or 0


def _check_sandbox(host: Host, job: Job[Run], outcome: Outcome, frames: Frames) -> None:
    """Raises when the agent found no sandbox: the kata's, or only the avatar's."""
    if frames.missing is not None or outcome.exit_code == Exit.NO_SANDBOX:
        unmade = host.remove_unmade_volume(host.volume_name(job.kata_id))
        if unmade or frames.missing == "kata":
            raise KataNotFound(f"kata {job.kata_id} has no volume: PUT the kata")
        raise AvatarNotFound(f"kata {job.kata_id} has no sandbox for {job.avatar_name}")


def _judge(
    host: Host,
    job: Job[Run],
    rules: ColourRules | str | None,
    outcome: Outcome,
    frames: Frames,
    oom_kills: int = 0,
) -> RunResult:
    """The run's result, coloured by the rules of the image it ran."""
    settings = host.settings
    if outcome.stderr:
        log.warning(
            "the agent of %s/%s wrote to stderr: %r",
            job.kata_id,
            job.avatar_name,
            outcome.stderr[:500],
        )
    result = run_result(
        frames,
        exit_code=outcome.exit_code,
        killed=outcome.killed,
        # The agent's count when the engine was not asked; either, when both say.
        oom_killed=bool(frames.oom_kills or outcome.oom_killed or oom_kills),
        elapsed_ms=int(outcome.elapsed_s * 1000),
        rules=rules,
        output_bytes=settings.output_bytes,
        file_bytes=settings.file_bytes,
        max_created=settings.max_created,
        max_changed=settings.max_changed,
        result_bytes=settings.result_bytes,
    )
    if result["faulty_reason"] is not None:
        log.warning(
            "run of %s/%s is faulty: %s", job.kata_id, job.avatar_name, result["faulty_reason"]
        )
    return result


def _admin(host: Host, job: Job[Any], user: str, args: list[str], *, stdin: bytes = b"") -> None:
    """Runs one admin step of the agent in a container of the helper image on the kata's
    volume."""
    kata_id = job.kata_id
    volume = host.volume_name(kata_id)
    agent.make_present(host.engine, host.settings.helper_image)
    # Checked first because the engine would silently create a missing named volume.
    if host.engine.volume(volume) is None:
        raise KataNotFound(f"kata {kata_id} has no volume: PUT the kata")
    job_id = job.job_id or _job_id()
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
        lambda: host.engine.run_container(spec, stdin, ADMIN_DEADLINE_S, 4096),
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


def _job_id() -> str:
    return "x" + secrets.token_hex(6)


def _iso(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
