"""The HTTP API of API.md: validate, enqueue, answer. Nothing here talks to Docker."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from pydantic import BaseModel

from api.errors import ApiError
from api.openapi import openapi_document
from api.schemas import NewAvatar, NewKata, PullImage, Run
from runner import live, metrics
from runner.identifiers import avatar_uid, check_kata_id
from runner.jobs import IMAGES_QUEUE, MAX_WAIT_S, Jobs, Submitted, redis_errors
from runner.settings import Settings

bp = Blueprint("runner", __name__)

JOB_ID = re.compile(r"j_[A-Za-z0-9_-]{16}")


def jobs() -> Jobs:
    return current_app.extensions["runner.jobs"]  # type: ignore[no-any-return]


def settings() -> Settings:
    return current_app.extensions["runner.settings"]  # type: ignore[no-any-return]


def body(model: type[BaseModel]) -> Any:
    """The request body parsed by model; 415 unless it is JSON."""
    if request.mimetype != "application/json":
        raise ApiError("unsupported_media_type", "the body must be JSON (application/json)")
    return model.model_validate_json(request.get_data(), context={"settings": settings()})


def accepted(submitted: Submitted) -> tuple[Response, int, dict[str, Any]]:
    answer = submitted.answer()
    metrics.JOBS_ACCEPTED.labels(submitted.kind).inc()
    if submitted.wake:
        current_app.extensions["runner.wake"](submitted.kata_id)
    return jsonify(answer), 202, {"Location": answer["url"]}


def kata_path(kata_id: str) -> str:
    return check_kata_id(kata_id)


def avatar_path(avatar_name: str) -> str:
    avatar_uid(avatar_name)
    return avatar_name


@bp.put("/katas/<kata_id>")
def new_kata(kata_id: str) -> Any:
    kata_path(kata_id)
    parsed = body(NewKata)
    return accepted(jobs().submit("new_kata", kata_id, None, {"image_name": parsed.image_name}))


@bp.delete("/katas/<kata_id>")
def old_kata(kata_id: str) -> Any:
    kata_path(kata_id)
    return accepted(jobs().submit("old_kata", kata_id, None, {}))


@bp.put("/katas/<kata_id>/avatars/<avatar_name>")
def new_avatar(kata_id: str, avatar_name: str) -> Any:
    kata_path(kata_id)
    avatar_path(avatar_name)
    parsed = body(NewAvatar)
    payload = {"avatar_name": avatar_name, **parsed.model_dump()}
    return accepted(jobs().submit("new_avatar", kata_id, avatar_name, payload))


@bp.delete("/katas/<kata_id>/avatars/<avatar_name>")
def old_avatar(kata_id: str, avatar_name: str) -> Any:
    kata_path(kata_id)
    avatar_path(avatar_name)
    payload = {"avatar_name": avatar_name}
    return accepted(jobs().submit("old_avatar", kata_id, avatar_name, payload))


@bp.post("/katas/<kata_id>/avatars/<avatar_name>/runs")
def run(kata_id: str, avatar_name: str) -> Any:
    kata_path(kata_id)
    avatar_path(avatar_name)
    parsed = body(Run)
    payload = {"avatar_name": avatar_name, **parsed.model_dump()}
    return accepted(jobs().submit("run", kata_id, avatar_name, payload))


@bp.post("/images/pull")
def pull_image() -> Any:
    parsed = body(PullImage)
    return accepted(jobs().submit("pull_image", IMAGES_QUEUE, None, parsed.model_dump()))


@bp.get("/jobs/<job_id>")
def job(job_id: str) -> Any:
    wait = request.args.get("wait", "0")
    try:
        wait_s = float(wait)
    except ValueError:
        wait_s = -1.0
    if not 0 <= wait_s <= MAX_WAIT_S:
        raise ApiError("invalid_request", f"wait: {wait!r} is not a number of seconds 0..30")
    found = jobs().wait(job_id, wait_s) if JOB_ID.fullmatch(job_id) else None
    if found is None:
        raise ApiError("job_not_found", f"job {job_id!r} is unknown or expired")
    return jsonify(found)


@bp.get("/katas/<kata_id>")
def kata(kata_id: str) -> Any:
    kata_path(kata_id)
    found = jobs().kata(kata_id)
    if found is None:
        raise ApiError("kata_not_found", f"the runner has no record of kata {kata_id}")
    return jsonify(found)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz() -> Any:
    ready, reason = current_app.extensions["runner.readiness"]()
    if not ready:
        raise ApiError("unavailable", reason)
    return jsonify({"ok": True, "reason": reason})


@bp.get("/workers")
def workers() -> Any:
    client = jobs().redis
    with redis_errors():
        online = live.workers(client)
        stats = live.queue_stats(client)
    for worker in online:
        worker["active_jobs"] = stats["leases"].get(worker["name"], 0)
    return jsonify(
        {
            "workers": online,
            "queue_depth": stats["queue_depth"],
            "oldest_queued_age_s": stats["oldest_queued_age_s"],
        }
    )


@bp.get("/metrics")
def prometheus() -> Any:
    registry = CollectorRegistry()
    registry.register(live.LiveCollector(jobs().redis))
    with redis_errors():
        text = metrics.exposition(registry)
    return Response(text, mimetype=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document())
