"""cyber-dojo's run_cyber_dojo_sh as one job of the avatar its id maps to: the sandbox is
made exactly the files sent (the kata and the avatar first, when they are missing), then
cyber-dojo.sh runs as any run does, coloured by the rules of sandbox/images.py's
`cyber_dojo_rules` (a lambda translated, or judged by the host's Ruby judge)."""

from __future__ import annotations

from runner.errors import AvatarNotFound, KataNotFound
from runner.models import CyberDojoRun, Job, NewAvatar, NewKata, Run
from sandbox import operations, runs
from sandbox.host import Host
from sandbox.images import Images
from sandbox.kata_containers import KataContainers
from sandbox.results import RunResult


def run(
    host: Host,
    images: Images,
    job: Job[CyberDojoRun],
    *,
    live: KataContainers | None = None,
    write_run_at: bool = True,
) -> RunResult:
    """Fills the sandbox with exactly the request's files, then runs cyber-dojo.sh in it."""
    request = job.request
    make_exact(host, images, job)
    as_run = Job(
        job.kata_id,
        Run(image_name=request.image_name, max_seconds=request.max_seconds),
        job.avatar_name,
        job.job_id,
        job.fence,
    )
    return runs.run(
        host,
        images,
        as_run,
        live=live,
        write_run_at=write_run_at,
        rules=lambda image_id: images.cyber_dojo_rules(
            request.image_name, image_id, request.rag_lambda
        ),
    )


def make_exact(host: Host, images: Images, job: Job[CyberDojoRun]) -> None:
    """The sandbox holds exactly the request's files: a missing kata (never made, reaped,
    its disk lost) or avatar is made first."""
    request = job.request
    avatar = Job(
        job.kata_id,
        NewAvatar(image_name=request.image_name, starting_files=request.files),
        job.avatar_name,
        job.job_id,
        job.fence,
    )
    try:
        operations.fill(host, job, request.files)
    except KataNotFound:
        kata = Job(job.kata_id, NewKata(image_name=request.image_name), "", job.job_id, job.fence)
        operations.new_kata(host, images, kata)
        operations.new_avatar(host, images, avatar)
    except AvatarNotFound:
        operations.new_avatar(host, images, avatar)
