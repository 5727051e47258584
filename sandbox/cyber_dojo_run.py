"""cyber-dojo's run_cyber_dojo_sh, run as cyber-dojo's own runner runs it.

Every run is a fresh container of the image, whose command is the agent with one request:
cyber-dojo.sh runs in `/sandbox`, a tmpfs of exactly the request's files, with `bash` (`sh`
when the image has no bash), as the image's sandbox user (41966:51966, `HOME=/home/sandbox`,
with cyber-dojo's fs cleaners written there) when the image has cyber-dojo's augmented user,
and with `CYBER_DOJO_SANDBOX`, `CYBER_DOJO_ID` and `CYBER_DOJO_IMAGE_NAME`. The image's root is
writable, as cyber-dojo's runner leaves it (the home stays the image's, writable by the user),
and goes with the container; `/tmp` is executable. Binary files the run makes are neither
returned nor kept. No kata volume is used: cyber-dojo sends every file each time, so nothing
of a run outlives it. Its colour is by sandbox/images.py's `cyber_dojo_rules` (a lambda
translated, or judged by the worker's Ruby judge). docs/API.md, "The cyber-dojo protocol",
lists the environment.
"""

from __future__ import annotations

from typing import Any

from runner.identifiers import SANDBOX_GID, avatar_uid, check_kata_id
from runner.models import CyberDojoRun, Job, Run
from runner.settings import MiB, Settings
from sandbox import agent, runs
from sandbox.engine import ContainerSpec
from sandbox.host import Host
from sandbox.images import SANDBOX_USER, Images
from sandbox.kata_containers import KataContainers
from sandbox.limits import run_limits
from sandbox.operations import new_job_id
from sandbox.results import RunResult

SANDBOX = "/sandbox"
# cyber-dojo's runner mounts /sandbox and /tmp so; their pages count against the memory limit.
TMPFS_BYTES = 250 * MiB
FS_CLEANERS = "cyber_dojo_fs_cleaners.sh"
# The images cyber-dojo's runner gives SYS_PTRACE, by the start of their name.
CLANG_IMAGES = ("cyberdojofoundation/clang", "ghcr.io/cyber-dojo-languages/clang")
GiB = 1024 * MiB
# The bash functions cyber-dojo's runner writes into the home, which start-points `source`.
FS_CLEANERS_TEXT = """\
function cyber_dojo_delete_dirs()
{
  for dirname in "$@"
  do
      rm -rf "${dirname}" 2> /dev/null || true
  done
}
function cyber_dojo_delete_files()
{
  for filename in "$@"
  do
      rm "${filename}" 2> /dev/null || true
  done
}
function cyber_dojo_reset_dirs()
{
  for dirname in "$@"
  do
      rm -rf "${dirname}" 2> /dev/null || true
      mkdir -p "${dirname}"
  done
}
"""


def run(
    host: Host,
    images: Images,
    job: Job[CyberDojoRun],
    *,
    live: KataContainers | None = None,  # not used: every cyber-dojo run is fresh
    write_run_at: bool = True,  # not used: a cyber-dojo run keeps no volume
) -> RunResult:
    """Runs cyber-dojo.sh in a fresh sandbox of exactly the request's files."""
    check_kata_id(job.kata_id)
    request = job.request
    as_run = Job(
        job.kata_id,
        Run(image_name=request.image_name, max_seconds=request.max_seconds),
        job.avatar_name,
        job.job_id,
        job.fence,
    )
    image_id = images.image_id(request.image_name)
    spec, agent_request = _spec(host, images, job, image_id)
    outcome, frames = runs.contain(host, images, as_run, spec, agent_request, None)
    rules = images.cyber_dojo_rules(request.image_name, spec.image, request.rag_lambda)
    return runs.judge(host, as_run, rules, outcome, frames)


def _spec(
    host: Host, images: Images, job: Job[CyberDojoRun], image_id: str
) -> tuple[ContainerSpec, agent.RunRequest]:
    settings, request = host.settings, job.request
    if images.has_sandbox_user(image_id):
        _, uid, gid, home = SANDBOX_USER
        home_files = {f"{home}/{FS_CLEANERS}": FS_CLEANERS_TEXT}
    else:  # not an image of cyber-dojo's: the avatar's uid, and the sandbox as the home
        uid, gid, home = avatar_uid(job.avatar_name), SANDBOX_GID, SANDBOX
        home_files = {}
    job_id = job.job_id or new_job_id()
    spec = ContainerSpec(
        image=image_id,
        command=[agent.AGENT, "once"],
        user="root",
        name=f"{settings.instance}-{job.kata_id}-cyber-dojo-{job_id}",
        labels=host.labels(
            job.kata_id, "run", avatar=job.avatar_name, job_id=job_id, fence=str(job.fence)
        ),
        binds=agent.bind(),
        limits=cyber_dojo_limits(settings, uid, gid, request.image_name),
        working_dir="/",
    )
    agent_request = agent.RunRequest(
        uid=uid,
        gid=gid,
        sandbox=SANDBOX,
        env={
            "CYBER_DOJO_SANDBOX": SANDBOX,
            "CYBER_DOJO_ID": request.cyber_dojo_id or job.kata_id,
            "CYBER_DOJO_IMAGE_NAME": request.image_name,
            "HOME": home,
        },
        max_seconds=request.max_seconds,
        out_cap=settings.output_bytes + 1,
        file_cap=settings.file_bytes + 1,
        max_files=settings.sandbox_max_files,
        deleted=(),
        files=request.files,
        argv=("bash", "./cyber-dojo.sh"),
        fallback=("sh", "./cyber-dojo.sh"),
        home_files=home_files,
        drop_binary=True,
    )
    return spec, agent_request


def clang(image_name: str) -> bool:
    """Whether cyber-dojo's runner takes the image for a clang one, whose address sanitizer
    needs ptrace."""
    return image_name.startswith(CLANG_IMAGES)


def cyber_dojo_limits(settings: Settings, uid: int, gid: int, image_name: str) -> dict[str, Any]:
    """A run container's limits, with what cyber-dojo's runner gives a run instead: a writable
    root, `/sandbox` (the user's) and `/tmp` executable tmpfs, its open files, locks and stack,
    and a data segment of 4 GiB, or, for a clang image, SYS_PTRACE in the container's bounding
    set (the agent's: the run's uid gets no capability, but ptrace of its own processes is
    then allowed). The memory, pids, CPU and file-size limits stay the operator's
    (docs/API.md, "How a run runs", says where they are stricter, and why)."""
    limits = run_limits(settings)
    ulimits = [u for u in limits["ulimits"] if u["name"] not in ("nofile", "stack")]
    if clang(image_name):
        limits["cap_add"] = [*limits["cap_add"], "SYS_PTRACE"]
    else:
        ulimits.append({"name": "data", "soft": 4 * GiB, "hard": 4 * GiB})
    return {
        **limits,
        "read_only": False,
        "tmpfs": {
            SANDBOX: f"rw,exec,nosuid,nodev,size={TMPFS_BYTES},uid={uid},gid={gid},mode=0755",
            "/tmp": f"rw,exec,nosuid,nodev,size={TMPFS_BYTES},mode=1777",
        },
        "ulimits": [
            *ulimits,
            {"name": "nofile", "soft": 1024, "hard": 1024},
            {"name": "locks", "soft": 1024, "hard": 1024},
            {"name": "stack", "soft": 16 * MiB, "hard": 16 * MiB},
        ],
    }
