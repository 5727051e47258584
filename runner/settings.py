"""The runner's settings: one typed object read from RUNNER_* environment variables."""

from __future__ import annotations

import fnmatch
import re
from functools import cached_property
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KiB = 1024
MiB = 1024 * KiB

# A loop device keeps at most 63 bytes of its file's name, by which sandbox/disk.sh finds it:
# the folder, "/", the instance, "-", a kata id of up to 10 characters and ".img".
LOOP_NAME_BYTES = 63

HOST_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

# The local images the tests and benchmarks run most (the ones a second test host gets)...
LOCAL_IMAGES = ("cyber-dojo-local/shell:latest", "cyber-dojo-local/python-pytest:latest")
# ...and those of the other cyber-dojo start-points the project builds images for (images/).
START_POINT_IMAGES = tuple(
    f"cyber-dojo-local/{name}:latest"
    for name in (
        "python-unittest",
        "python-assert",
        "bash-bats",
        "bash-shunit2",
        "bash-unit",
        "gcc-assert",
    )
)


class Settings(BaseSettings):
    """Every knob of the runner, with its default; each is overridable as RUNNER_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="RUNNER_", frozen=True, extra="ignore")

    # Names and labels every volume and container, so that several runners (or test sessions)
    # can share one docker engine and each cleans up only what it made.
    instance: str = "runner"
    # Comma-separated glob patterns of the image references a kata may use.
    images: str = ",".join(LOCAL_IMAGES + START_POINT_IMAGES)
    # The image of the short root/admin containers that prepare volumes and sandboxes.
    helper_image: str = "cyber-dojo-local/shell:latest"
    docker_host: str = "unix:///var/run/docker.sock"
    # The host a worker serves: a docker engine (docker_host) and the workers that use it.
    # Each host's workers consume its own queues (runner.host.<name>, .reap, .more); katas are
    # placed on one.
    host_name: str = "local"
    # A host with no live worker for this long is lost: its katas' jobs fail host_lost.
    host_lost_s: float = 60.0
    docker_timeout_s: int = 60
    # Comma-separated images each worker pulls (or updates) in the background as it starts.
    prepull: str = ""
    # A JSON file {image_name: colour rules} that overrides the rules in an image's label.
    colour_rules_file: str = ""
    # The image of each worker's Ruby judge (sandbox/ruby_judge.py), which judges the
    # cyber-dojo lambdas the translator cannot translate. Empty: none; their runs are faulty.
    judge_image: str = "cyber-dojo-local/ruby-judge:latest"

    # The API: where it listens, its bearer token (none: loopback clients only), its limits.
    host: str = "127.0.0.1"
    port: int = 4597
    api_token: str = ""
    api_processes: int = 2  # gunicorn worker processes (gevent: one greenlet per connection)
    api_connections: int = 1000  # open client connections per API process; more wait to connect
    # A request's line and headers must arrive within api_head_timeout_s of the connection (or
    # of the answer before it, which is also how long an idle kept-alive connection stays
    # open); its body within api_body_timeout_s of its headers. Else the connection is cut.
    api_head_timeout_s: int = 5
    api_body_timeout_s: float = 30.0
    # gunicorn's control socket (gunicornc): off unless given a path of this instance's own.
    api_control_socket: str = ""
    # A listener (host:port) of its own for cyber-dojo's protocol (docs/API.md): it answers
    # only that protocol's paths, with no token, for a web server that sends none. Empty:
    # none; the protocol's paths are then served beside the API's, under its token.
    cyber_dojo_bind: str = ""
    # The commit the runner runs, as cyber-dojo's GET /sha answers it (empty: read from git).
    commit_sha: str = ""
    max_queued: int = 10000  # jobs queued over all katas before submissions get 503
    kata_max_queued: int = 128  # jobs queued on one kata before submissions get 429
    job_ttl_s: int = 86400
    log_level: str = "INFO"

    # Redis and the per-kata mailbox.
    redis_url: str = "redis://127.0.0.1:6380/0"  # the Redis that `make up` starts
    lease_ttl_s: float = 30.0  # a crashed worker's kata waits at most this + sweep_interval_s
    sweep_interval_s: float = 5.0
    drain_batch: int = 8  # jobs one drain task runs before it hands the kata back to the queue
    worker_heartbeat_s: float = 5.0

    # The reaper: how often it runs, how long an untouched kata's volume lives, how old a
    # container of no running job must be before it counts as leaked.
    reap_interval_s: float = 600.0
    volume_ttl_s: float = 7 * 86400.0
    reap_container_grace_s: float = 120.0
    reap_read_batch: int = 100  # volumes one reader container mounts to rebuild the index
    # How often (at most) the service writes a kata's last-run time into its volume (a Redis gate
    # shared by every worker); Redis records every run. 0: at every run. The reaper's TTL is days.
    run_at_every_s: float = 3600.0

    # How a run gets its container: "kata", an exec into the kata's live container (made at
    # need, reused after clean runs); "fresh", a new container for every run.
    run_container: Literal["kata", "fresh"] = "kata"
    kata_idle_s: float = 300.0  # a live kata container with no run for this long is removed
    # Live kata containers on one docker host at most; the least recently used goes first.
    # An idle one holds three small processes and a tmpfs: the bound is for the engine.
    max_live_katas: int = 64

    # Limits of every run container (ARCHITECTURE.md, "On the docker host").
    pids_limit: int = 128
    memory_bytes: int = 768 * MiB
    nano_cpus: int = 1_000_000_000
    fsize_bytes: int = 16 * MiB
    nofile: int = 256
    stack_bytes: int = 8 * MiB
    tmpfs_bytes: int = 64 * MiB
    # What a run hands back: the first output_bytes of stdout and of stderr, files up to
    # file_bytes each, at most max_created created and max_changed changed files, and at
    # most result_bytes of JSON in all (what Redis keeps of the run for job_ttl_s).
    output_bytes: int = 50 * KiB
    file_bytes: int = 50 * KiB
    max_created: int = 16
    max_changed: int = 64
    result_bytes: int = 1 * MiB
    # Each kata's volume is a filesystem of its own, in a sparse image file of this many bytes
    # with this many inodes, in kata_disks_dir on the docker host (ARCHITECTURE.md, "A disk
    # per kata"). A classroom kata of 64 avatars gets 4 MiB and 512 files each; each inode
    # costs the host 128 bytes at once (4 MiB a kata). 0: no bound (a plain volume, for
    # engines without loop devices).
    kata_disk_bytes: int = 256 * MiB
    kata_disk_inodes: int = 32768
    kata_disks_dir: str = "/var/lib/cyber-dojo-runner/disks"
    # How long past max_seconds the runner waits for the agent's timer before it kills the
    # container itself.
    kill_grace_s: float = 1.5
    # The agent's own work in a run container (writing the request's files, walking the
    # sandbox before and after cyber-dojo.sh, the report) gets this much on top of max_seconds and
    # kill_grace_s, so that it never eats the learner's time.
    bookkeeping_s: float = 10.0
    # Files one request may hold (starting_files, changed_files, deleted_filenames each), and
    # files of a sandbox the agent compares before and after a run: past it, it stops
    # counting and the result says too_many_files.
    max_request_files: int = 1000
    sandbox_max_files: int = 2000

    @model_validator(mode="after")
    def _disk_fits(self) -> Settings:
        if not HOST_NAME.fullmatch(self.host_name):
            raise ValueError("host_name must be 1 to 32 of a-z, 0-9, - and _")
        if self.kata_disk_bytes and self.kata_disk_bytes < 8 * MiB:
            raise ValueError("kata_disk_bytes must be 0 (no bound) or at least 8 MiB")
        if self.kata_disk_bytes and self.kata_disk_inodes < 1024:
            raise ValueError("kata_disk_inodes must be at least 1024")
        longest = len(f"{self.kata_disks_dir}/{self.instance}-{'K' * 10}.img".encode())
        if self.kata_disk_bytes and longest > LOOP_NAME_BYTES:
            raise ValueError(
                f"kata_disks_dir and instance make image names of {longest} bytes: a loop "
                f"device keeps {LOOP_NAME_BYTES}"
            )
        return self

    @cached_property
    def image_patterns(self) -> tuple[str, ...]:
        """The allow-list as a tuple of glob patterns."""
        return tuple(p.strip() for p in self.images.split(",") if p.strip())

    def image_allowed(self, image_name: str) -> bool:
        """True when image_name (an untagged name means :latest) matches the allow-list."""
        reference = normalise_image_name(image_name)
        return any(fnmatch.fnmatchcase(reference, p) for p in self.image_patterns)


def normalise_image_name(image_name: str) -> str:
    """Adds the implicit ':latest' tag to an untagged, undigested image reference."""
    last = image_name.rsplit("/", 1)[-1]
    if "@" in image_name or ":" in last:
        return image_name
    return f"{image_name}:latest"
