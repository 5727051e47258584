"""The operations on a kata's volume, one per job kind of API.md.

Each takes the Host, the job's identifiers and inputs, and returns the job's result; each
raises a RunnerError (kata_not_found, avatar_not_found, image_not_found, docker_unavailable)
when it cannot do its job. Every container an operation starts is removed before it returns.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import docker.errors

from runner.errors import AvatarNotFound, ImageNotFound, KataNotFound, RunnerError
from runner.identifiers import SANDBOX_GID, avatar_uid, check_kata_id, check_max_seconds
from worker.docker_host import (
    ContainerSpec,
    Outcome,
    docker_errors,
    remove_container,
    remove_unmade_volume,
    run_container,
)
from worker.host import RUNNER_LABEL, Host
from worker.limits import admin_limits, run_limits
from worker.protocol import Frames, parse_frames, request_tar, run_request, tar_of
from worker.results import RunResult, run_result
from worker.scripts import (
    ADMIN_SCRIPT,
    LAUNCHER,
    RUN_SCRIPT,
    RUN_SCRIPT_FILE,
    RUN_SCRIPT_PATH,
    Exit,
    install_step,
    kata_step,
)

log = logging.getLogger(__name__)

ADMIN_DEADLINE_S = 60.0
RESULT_BYTES = 64 * 1024 * 1024  # the most of a run script's report the worker reads
VOLUME_IN_USE_WAIT_S = 10.0


def new_kata(
    host: Host,
    kata_id: str,
    image_name: str,
    *,
    job_id: str = "",
    fence: int = 0,
    now: datetime | None = None,
) -> dict[str, object]:
    """Creates the kata's volume if it is missing, lays it out, records the hello time."""
    check_kata_id(kata_id)
    host.colour_rules(image_name)  # image_not_found before anything is made
    with docker_errors():
        host.client.volumes.create(host.volume_name(kata_id), labels=host.labels(kata_id, "kata"))
    _admin(
        host,
        kata_id,
        "root",
        kata_step(_iso(now)),
        job_id=job_id,
        fence=fence,
        stdin=RUN_SCRIPT.encode(),
    )
    return {}


def old_kata(host: Host, kata_id: str, *, job_id: str = "") -> dict[str, object]:
    """Removes every container of the kata, confirms they are gone, then removes its volume."""
    check_kata_id(kata_id)
    remove_kata_containers(host, kata_id)
    give_up = time.monotonic() + VOLUME_IN_USE_WAIT_S
    with docker_errors():
        while True:
            try:
                host.client.api.remove_volume(host.volume_name(kata_id))
                return {}
            except docker.errors.NotFound:
                return {}
            except docker.errors.APIError as error:
                # 409 "volume is in use": a container of another runner instance, or one
                # created between the listing and now; remove again, then retry.
                if error.status_code != 409 or time.monotonic() > give_up:
                    raise
                remove_kata_containers(host, kata_id)
                time.sleep(0.1)


def remove_kata_containers(host: Host, kata_id: str) -> int:
    """Force-removes every container that mounts or serves the kata; returns how many."""
    with docker_errors():
        found = host.client.api.containers(
            all=True,
            quiet=True,
            filters={
                "label": [
                    f"{RUNNER_LABEL}={host.settings.instance}",
                    f"{RUNNER_LABEL}.kata_id={kata_id}",
                ]
            },
        ) + host.client.api.containers(
            all=True, quiet=True, filters={"volume": host.volume_name(kata_id)}
        )
    ids = {c["Id"] for c in found}
    for container_id in ids:
        remove_container(host.client, container_id)
    return len(ids)


def new_avatar(
    host: Host,
    kata_id: str,
    avatar_name: str,
    image_name: str,
    starting_files: Mapping[str, str],
    *,
    job_id: str = "",
    fence: int = 0,
    now: datetime | None = None,
) -> dict[str, object]:
    """Sets the avatar's sandbox to exactly starting_files, owned by the avatar's uid."""
    check_kata_id(kata_id)
    uid = avatar_uid(avatar_name)
    host.colour_rules(image_name)
    _admin(
        host,
        kata_id,
        "root",
        ["avatar", avatar_name, str(uid), _iso(now)],
        job_id=job_id,
        fence=fence,
    )
    _admin(
        host,
        kata_id,
        f"{uid}:{SANDBOX_GID}",
        ["fill", avatar_name],
        job_id=job_id,
        fence=fence,
        stdin=request_tar(starting_files),
        avatar_name=avatar_name,
    )
    return {}


def old_avatar(
    host: Host, kata_id: str, avatar_name: str, *, job_id: str = "", fence: int = 0
) -> dict[str, object]:
    """Removes the avatar's sandbox; succeeds if it is already gone."""
    check_kata_id(kata_id)
    uid = avatar_uid(avatar_name)
    try:
        _admin(
            host,
            kata_id,
            f"{uid}:{SANDBOX_GID}",
            ["empty", avatar_name],
            job_id=job_id,
            fence=fence,
            avatar_name=avatar_name,
        )
    except AvatarNotFound:
        return {}
    _admin(host, kata_id, "root", ["remove", avatar_name], job_id=job_id, fence=fence)
    return {}


def run(
    host: Host,
    kata_id: str,
    avatar_name: str,
    image_name: str,
    changed_files: Mapping[str, str],
    deleted_filenames: Sequence[str] = (),
    max_seconds: int = 10,
    *,
    job_id: str = "",
    fence: int = 0,
    now: datetime | None = None,
) -> RunResult:
    """Deletes, writes, then runs cyber-dojo.sh in the avatar's sandbox; judges the colour."""
    check_kata_id(kata_id)
    check_max_seconds(max_seconds)
    uid = avatar_uid(avatar_name)
    settings = host.settings
    # The volume is not looked up first: a missing volume, which the engine makes empty,
    # fails the launcher (or the run-time write) and is then removed again. The image's id
    # is looked up at most every few seconds, and the container made from that id.
    volume = host.volume_name(kata_id)
    job_id = job_id or _job_id()
    sandbox = f"/sandboxes/{avatar_name}"
    request = run_request(changed_files, deleted_filenames)
    spec = ContainerSpec(
        image=host.image_id(image_name),
        command=[
            "sh",
            "-c",
            LAUNCHER,
            "run",
            RUN_SCRIPT_PATH,
            str(max_seconds),
            str(settings.output_bytes + 1),
            str(settings.file_bytes + 1),
            request.mode,
            *request.deleted,
        ],
        user=f"{uid}:{SANDBOX_GID}",
        name=f"{settings.instance}-{kata_id}-{avatar_name}-{job_id}",
        labels=host.labels(kata_id, "run", avatar=avatar_name, job_id=job_id, fence=str(fence)),
        binds={volume: {"bind": "/sandboxes", "mode": "rw"}},
        limits=run_limits(settings),
        # Only these: the runner's own environment (its Redis URL, its token) never passes.
        environment={
            "CYBER_DOJO_KATA_ID": kata_id,
            "CYBER_DOJO_AVATAR_NAME": avatar_name,
            "CYBER_DOJO_IMAGE_NAME": image_name,
            "CYBER_DOJO_SANDBOX": sandbox,
            "HOME": sandbox,
        },
        # Not working_dir=sandbox: the engine would create a missing one as root.
        working_dir="/sandboxes",
        # The engine writes the run time into root-owned .runner before the container starts.
        archives=[("/sandboxes/.runner", tar_of({"run_at": (_iso(now) + "\n").encode()}))]
        if host.run_at_due(kata_id)
        else [],
    )
    deadline_s = max_seconds + settings.kill_grace_s
    try:
        outcome, frames = _contain(
            host, kata_id, image_name, spec, request.stdin, deadline_s, job_id=job_id, fence=fence
        )
    except KataNotFound:
        remove_unmade_volume(host.client, host.volume_name(kata_id), RUNNER_LABEL)
        raise
    if frames.status is None and outcome.exit_code == Exit.NO_SANDBOX:
        if remove_unmade_volume(host.client, host.volume_name(kata_id), RUNNER_LABEL):
            raise KataNotFound(f"kata {kata_id} has no volume: PUT the kata")
        raise AvatarNotFound(f"kata {kata_id} has no sandbox for {avatar_name}")
    rules = host.rules_of(image_name, spec.image)
    if outcome.stderr:
        log.warning(
            "run script of %s/%s wrote to stderr: %r", kata_id, avatar_name, outcome.stderr[:500]
        )
    return run_result(
        frames,
        exit_code=outcome.exit_code,
        killed=outcome.killed,
        # The script's count when the engine was not asked; either, when both say.
        oom_killed=bool(frames.oom_kills) or bool(outcome.oom_killed),
        elapsed_ms=int(outcome.elapsed_s * 1000),
        rules=rules,
        output_bytes=settings.output_bytes,
        file_bytes=settings.file_bytes,
        max_created=settings.max_created,
    )


def _contain(
    host: Host,
    kata_id: str,
    image_name: str,
    spec: ContainerSpec,
    stdin: bytes,
    deadline_s: float,
    *,
    job_id: str,
    fence: int,
) -> tuple[Outcome, Frames]:
    """Runs the run container; again when the image's id went (looked up anew), and again
    once this version of the run script is installed when the volume lacks it."""
    try:
        outcome, frames = _run_once(host, spec, stdin, deadline_s)
    except ImageNotFound:
        # The image went, or its name moved, since its id was looked up: look again.
        host.forget_image(image_name)
        spec.image = host.image_id(image_name)
        outcome, frames = _run_once(host, spec, stdin, deadline_s)
    if frames.status is None and outcome.exit_code == Exit.NO_SCRIPT:
        # The launcher stopped before it touched the sandbox: install the script, run again.
        log.info("kata %s has no %s: installing it", kata_id, RUN_SCRIPT_FILE)
        script = RUN_SCRIPT.encode()
        _admin(
            host,
            kata_id,
            "root",
            install_step(),
            job_id=job_id,
            fence=fence,
            stdin=script,
        )
        outcome, frames = _run_once(host, spec, stdin, deadline_s)
    return outcome, frames


def _run_once(
    host: Host, spec: ContainerSpec, stdin: bytes, deadline_s: float
) -> tuple[Outcome, Frames]:
    """The run container's outcome and its report, parsed once: a whole report spares the
    engine the questions of how the container ended."""
    parsed: list[Frames] = []

    def whole(stdout: bytes) -> bool:
        parsed.append(parse_frames(stdout))
        return parsed[-1].whole

    outcome = run_container(host.client, spec, stdin, deadline_s, RESULT_BYTES, whole)
    return outcome, parsed[-1] if parsed else parse_frames(outcome.stdout)


def _admin(
    host: Host,
    kata_id: str,
    user: str,
    args: list[str],
    *,
    job_id: str,
    fence: int,
    stdin: bytes = b"",
    avatar_name: str = "",
) -> None:
    """Runs one step of admin.sh in a container of the helper image on the kata's volume."""
    volume = _existing_volume(host, kata_id)
    job_id = job_id or _job_id()
    spec = ContainerSpec(
        image=host.settings.helper_image,
        command=["sh", "-c", ADMIN_SCRIPT, "admin", *args],
        user=user,
        name=f"{host.settings.instance}-{kata_id}-{args[0]}-{job_id}",
        labels=host.labels(kata_id, "admin", job_id=job_id, fence=str(fence)),
        binds={volume: {"bind": "/sandboxes", "mode": "rw"}},
        limits=admin_limits(host.settings),
    )
    outcome = run_container(host.client, spec, stdin, ADMIN_DEADLINE_S, 4096)
    if outcome.exit_code == Exit.NO_SANDBOX:
        raise AvatarNotFound(f"kata {kata_id} has no sandbox for {avatar_name}")
    if outcome.exit_code == Exit.NO_LAYOUT:
        raise KataNotFound(f"kata {kata_id} has a volume but no .runner folder: PUT the kata again")
    if outcome.exit_code != 0 or outcome.killed:
        raise RunnerError(
            f"admin step {args[0]} on kata {kata_id} failed with status {outcome.exit_code}: "
            f"{outcome.stderr.decode(errors='replace').strip()}"
        )


def _existing_volume(host: Host, kata_id: str) -> str:
    """The kata's volume name; KataNotFound when it does not exist.

    Checked first because the engine would silently create a missing named volume.
    """
    name = host.volume_name(kata_id)
    with docker_errors():
        try:
            host.client.api.inspect_volume(name)
        except docker.errors.NotFound:
            raise KataNotFound(f"kata {kata_id} has no volume: PUT the kata") from None
    return name


def _job_id() -> str:
    return "x" + secrets.token_hex(6)


def _iso(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
