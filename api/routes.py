"""The HTTP API of API.md: validate, enqueue, answer. Nothing here talks to Docker."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from api.openapi import openapi_document
from api.state import state
from runner import metrics, status
from runner.errors import (
    InvalidRequest,
    JobNotFound,
    KataNotFound,
    TooLarge,
    Unavailable,
    UnsupportedMediaType,
)
from runner.identifiers import avatar_uid, check_kata_id
from runner.jobs import MAX_WAIT_S, Submitted, presence_ttl_s
from runner.models import NewAvatar, NewKata, OldAvatar, OldKata, PullImage, Request, Run
from runner.settings import HOST_NAME
from runner.store import redis_errors

bp = Blueprint("runner", __name__)

JOB_ID = re.compile(r"j_[A-Za-z0-9_-]{16}")


R = TypeVar("R", bound=Request)


def body(model: type[R]) -> R:
    """The request body parsed by model; 415 unless it is JSON."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("the body must be JSON (application/json)")
    data = request.get_data()
    limit = request.max_content_length or 0
    # A body of no Content-Length (chunked) is cut at the limit without an error: a byte past
    # it means the body was larger.
    chunked = request.content_length is None
    if chunked and len(data) >= limit and request.environ["wsgi.input"].read(1):
        raise TooLarge(f"the body is over its limit of {limit} bytes")
    return model.model_validate_json(data, context={"settings": state().settings})


def accepted(submitted: Submitted) -> tuple[Response, int, dict[str, Any]]:
    answer = submitted.answer()
    metrics.JOBS_ACCEPTED.labels(submitted.kind).inc()
    for kata_id, host in submitted.wakes():
        state().wake(kata_id, host)
    return jsonify(answer), 202, {"Location": answer["url"]}


def kata_path(kata_id: str) -> str:
    return check_kata_id(kata_id)


def avatar_path(avatar_name: str) -> str:
    avatar_uid(avatar_name)
    return avatar_name


@bp.put("/katas/<kata_id>")
def new_kata(kata_id: str) -> Any:
    kata_path(kata_id)
    return accepted(state().jobs.submit("new_kata", kata_id, None, body(NewKata)))


@bp.delete("/katas/<kata_id>")
def old_kata(kata_id: str) -> Any:
    kata_path(kata_id)
    return accepted(state().jobs.submit("old_kata", kata_id, None, OldKata()))


@bp.put("/katas/<kata_id>/avatars/<avatar_name>")
def new_avatar(kata_id: str, avatar_name: str) -> Any:
    kata_path(kata_id)
    avatar_path(avatar_name)
    return accepted(state().jobs.submit("new_avatar", kata_id, avatar_name, body(NewAvatar)))


@bp.delete("/katas/<kata_id>/avatars/<avatar_name>")
def old_avatar(kata_id: str, avatar_name: str) -> Any:
    kata_path(kata_id)
    avatar_path(avatar_name)
    return accepted(state().jobs.submit("old_avatar", kata_id, avatar_name, OldAvatar()))


@bp.post("/katas/<kata_id>/avatars/<avatar_name>/runs")
def run(kata_id: str, avatar_name: str) -> Any:
    kata_path(kata_id)
    avatar_path(avatar_name)
    return accepted(state().jobs.submit("run", kata_id, avatar_name, body(Run)))


@bp.post("/images/pull")
def pull_image() -> Any:
    return accepted(state().jobs.submit_pull(body(PullImage)))


@bp.get("/jobs/<job_id>")
def job(job_id: str) -> Any:
    wait = request.args.get("wait", "0")
    try:
        wait_s = float(wait)
    except ValueError:
        wait_s = -1.0
    if not 0 <= wait_s <= MAX_WAIT_S:
        raise InvalidRequest(f"wait: {wait!r} is not a number of seconds 0..30")
    found = state().jobs.wait(job_id, wait_s) if JOB_ID.fullmatch(job_id) else None
    if found is None:
        raise JobNotFound(f"job {job_id!r} is unknown or expired")
    return jsonify(found)


@bp.get("/katas/<kata_id>")
def kata(kata_id: str) -> Any:
    kata_path(kata_id)
    found = state().jobs.kata(kata_id)
    if found is None:
        raise KataNotFound(f"the runner has no record of kata {kata_id}")
    return jsonify(found)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz() -> Any:
    workers = state().jobs.workers_consuming()
    if workers == 0:
        raise Unavailable("no worker is consuming")
    return jsonify({"ok": True, "reason": f"{workers} worker(s) consuming"})


@bp.get("/workers")
def workers() -> Any:
    client = state().jobs.redis
    with redis_errors():
        online = status.workers(client)
        stats = status.queue_stats(client)
        beat = status.beat(client)
        settings = state().settings
        per_host = status.hosts(
            client, online, live_s=presence_ttl_s(settings), lost_s=settings.host_lost_s
        )
    for worker in online:
        worker["active_jobs"] = stats["leases"].get(worker["name"], 0)
    return jsonify(
        {
            "hosts": per_host,
            "workers": online,
            "queue_depth": stats["queue_depth"],
            "oldest_queued_age_s": stats["oldest_queued_age_s"],
            "beat": beat,
        }
    )


@bp.get("/metrics")
def prometheus() -> Any:
    registry = CollectorRegistry()
    settings = state().settings
    registry.register(
        status.StatusCollector(
            state().jobs.redis, live_s=presence_ttl_s(settings), lost_s=settings.host_lost_s
        )
    )
    with redis_errors():
        text = metrics.exposition(registry)
    return Response(text, mimetype=CONTENT_TYPE_LATEST)


@bp.put("/hosts/<host_name>/draining")
def drain_host(host_name: str) -> Any:
    return _draining(host_name, True)


@bp.delete("/hosts/<host_name>/draining")
def undrain_host(host_name: str) -> Any:
    return _draining(host_name, False)


def _draining(host_name: str, draining: bool) -> Any:
    if not HOST_NAME.fullmatch(host_name):
        raise InvalidRequest(f"host {host_name!r}: a host name is 1 to 32 of a-z, 0-9, - and _")
    with redis_errors():
        status.drain_host(state().jobs.redis, host_name, draining)
    return jsonify({"host": host_name, "draining": draining})


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document())
