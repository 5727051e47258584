"""The run operation: a run's request to the agent of its kata's live container, or of a fresh
container of its own; the container kept or removed after it; the run judged by the colour
rules of the image it ran."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from runner import metrics
from runner.errors import (
    AvatarNotFound,
    CommandMissing,
    ContainerGone,
    ImageNotFound,
    KataNotFound,
)
from runner.identifiers import SANDBOX_GID, avatar_uid, check_kata_id
from runner.models import Job, Run
from sandbox import agent, disk
from sandbox.engine import ContainerSpec, Outcome
from sandbox.host import Host
from sandbox.images import Images
from sandbox.kata_containers import KataContainers
from sandbox.limits import run_limits
from sandbox.operations import iso, new_job_id
from sandbox.report import Frames, parse_answer
from sandbox.results import Judge, RunResult, run_result
from sandbox.scripts import Exit
from traffic_lights.rules import ColourRules

log = logging.getLogger(__name__)

RESULT_BYTES = 64 * 1024 * 1024  # the most of the agent's answer the worker reads


def run(
    host: Host,
    images: Images,
    job: Job[Run],
    *,
    live: KataContainers | None = None,
    write_run_at: bool = True,
    now: datetime | None = None,
) -> RunResult:
    """Deletes, writes, then runs cyber-dojo.sh in the avatar's sandbox; judges the colour.

    With `live`, the run is a request to the agent of the kata's live container, which is
    kept only when the agent finds it clean after the run; else the run has a fresh container
    of its own, whose command is the agent. The volume is not looked up first: a missing
    volume, which the engine makes empty, has no layout for the agent's record of the run's
    time, and is then removed again.
    """
    check_kata_id(job.kata_id)
    spec, request = _run_spec(host, images, job, write_run_at, now)
    try:
        outcome, frames = disk.remounting(
            host, job.kata_id, lambda: contain(host, images, job, spec, request, live)
        )
    except KataNotFound:
        if live is not None:
            live.remove(job.kata_id, "lost")  # it mounts the volume the engine made
        host.remove_unmade_volume(host.volume_name(job.kata_id))
        raise
    # The kernel's count of OOM kills in a live container, which the report cannot hide.
    oom_kills = 0 if live is None else _keep_or_remove(live, job, outcome, frames)
    _check_sandbox(host, job, outcome, frames)
    rules = images.rules_of(job.request.image_name, spec.image)
    return judge(host, job, rules, outcome, frames, oom_kills)


def _run_spec(
    host: Host, images: Images, job: Job[Run], write_run_at: bool, now: datetime | None
) -> tuple[ContainerSpec, agent.RunRequest]:
    """The run container, made from the id the image name stands for now, and the agent's
    request."""
    settings, kata_id, avatar_name = host.settings, job.kata_id, job.avatar_name
    job_id = job.job_id or new_job_id()
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
        run_at=iso(now) if write_run_at else "",
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


def contain(
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

    def once() -> tuple[Outcome, Frames]:
        return agent.present(
            host.engine,
            settings.helper_image,
            lambda: _run_once(host, job.kata_id, spec, request, deadline_s, live),
        )

    try:
        return once()
    except ImageNotFound:
        # The image went, or its name moved, since its id was looked up: look again.
        images.forget(job.request.image_name)
        spec.image = images.image_id(job.request.image_name)
        return once()


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
        except CommandMissing:
            live.lost(kata_id, container_id)  # its agent was never there: made again
            raise
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


def judge(
    host: Host,
    job: Job[Run],
    rules: ColourRules | Judge | str | None,
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
