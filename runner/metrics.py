"""The runner's Prometheus metrics, correct across gunicorn and Celery processes.

With PROMETHEUS_MULTIPROC_DIR set (prometheus_client's own convention, read when it is
imported: `make up` and the compose file set it), every process writes its samples there and
/metrics merges them; without it, each process counts for itself. Sample files are named by
host name and pid, so that containers sharing the folder never write the same file.
"""

from __future__ import annotations

import os
import socket

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Containers each number their processes from 1: the host name keeps their files apart.
    values.ValueClass = values.MultiProcessValue(  # type: ignore[no-untyped-call]
        lambda: f"{socket.gethostname()}_{os.getpid()}"
    )

JOBS_ACCEPTED = Counter("runner_jobs_accepted_total", "Jobs the API accepted.", ["kind"])
JOBS_FINISHED = Counter(
    "runner_jobs_finished_total",
    "Jobs that ended, by kind and outcome (done or an error code).",
    ["kind", "outcome"],
)
RUN_DURATION = Histogram(
    "runner_run_duration_seconds",
    "Wall time of run jobs in the worker, container included.",
    buckets=(0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30),
)
CONTAINERS_STARTED = Counter(
    "runner_containers_started_total", "Containers started, by role (run, admin, reaper).", ["role"]
)
CONTAINERS_KILLED = Counter(
    "runner_containers_killed_total", "Containers the runner killed at their deadline."
)
KATA_CONTAINER_RUNS = Counter(
    "runner_kata_container_runs_total",
    "Runs that were an exec into a kata's live container, by whether the container was new.",
    ["container"],
)
KATA_CONTAINERS_REMOVED = Counter(
    "runner_kata_containers_removed_total",
    "Live kata containers removed, by reason (abnormal_run, unclean, idle, evicted, "
    "image_changed, kata_deleted, lost).",
    ["reason"],
)
LAMBDA_JUDGEMENTS = Counter(
    "runner_lambda_judgements_total",
    "Runs whose lambda the Ruby judge judged, by the colour it gave (faulty included).",
    ["colour"],
)
VOLUMES_REAPED = Counter("runner_volumes_reaped_total", "Kata volumes the reaper deleted.")
ERRORS = Counter("runner_errors_total", "Errors answered or jobs failed, by code.", ["code"])


def exposition(*more: CollectorRegistry) -> bytes:
    """The text format of every process's samples, then of the given registries."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
    else:
        merged = REGISTRY
    return b"".join(generate_latest(registry) for registry in (merged, *more))
