"""/openapi.json, generated from the same schemas that validate requests."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from api.schemas import Accepted, Error, Job, Kata
from runner.identifiers import AVATARS
from runner.models import NewAvatar, NewKata, PullImage, Run

REF = "#/components/schemas/{model}"
MODELS: tuple[type[BaseModel], ...] = (
    NewKata,
    NewAvatar,
    Run,
    PullImage,
    Accepted,
    Job,
    Kata,
    Error,
)
KATA_ID = {
    "name": "kata_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{6,10}$"},
}
AVATAR = {
    "name": "avatar_name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": list(AVATARS)},
    "description": "one of the 64 avatar names",
}
HOST_NAME = {
    "name": "host_name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"},
}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", "content": _json(Error)} for s in statuses}


def _job(
    summary: str, params: list[dict[str, Any]], body: type[BaseModel] | None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": params,
        "responses": {
            "202": {
                "description": "accepted: queued, or failed at once (host_lost) when the "
                "kata's host is lost",
                "content": _json(Accepted),
            },
            **_errors(400, 401, 413, 415, 429, 503),
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    return operation


def _get(
    summary: str, params: list[dict[str, Any]], model: type[BaseModel] | None, *errors: int
) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "ok"}
    ok["content"] = _json(model) if model else {"application/json": {"schema": {"type": "object"}}}
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {"200": ok, **_errors(*errors)},
        }
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 document of API.md."""
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    wait = {
        "name": "wait",
        "in": "query",
        "required": False,
        "schema": {"type": "number", "minimum": 0, "maximum": 30},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "cyber-dojo runner", "version": "1"},
        "paths": {
            "/katas/{kata_id}": {
                "put": _job("create or resume a kata (new_kata)", [KATA_ID], NewKata),
                "delete": _job("remove a kata (old_kata)", [KATA_ID], None),
                **_get("what the runner knows of a kata", [KATA_ID], Kata, 400, 401, 404, 503),
            },
            "/katas/{kata_id}/avatars/{avatar_name}": {
                "put": _job("set an avatar's sandbox (new_avatar)", [KATA_ID, AVATAR], NewAvatar),
                "delete": _job("remove an avatar's sandbox (old_avatar)", [KATA_ID, AVATAR], None),
            },
            "/katas/{kata_id}/avatars/{avatar_name}/runs": {
                "post": _job("run cyber-dojo.sh (run)", [KATA_ID, AVATAR], Run),
            },
            "/jobs/{job_id}": _get(
                "a job, waiting up to ?wait= s for it to end",
                [JOB_ID, wait],
                Job,
                400,
                401,
                404,
                503,
            ),
            "/images/pull": {"post": _job("pull or update an image (pull_image)", [], PullImage)},
            "/workers": _get("hosts, workers online and the queues", [], None, 401, 503),
            "/metrics": {
                "get": {
                    "summary": "Prometheus text format",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 503),
                    },
                }
            },
            "/hosts/{host_name}/draining": {
                "put": {
                    "summary": "mark a host draining: no new kata is placed on it",
                    "parameters": [HOST_NAME],
                    "responses": {"200": {"description": "ok"}, **_errors(400, 401, 503)},
                },
                "delete": {
                    "summary": "no longer draining: the host gets new katas again",
                    "parameters": [HOST_NAME],
                    "responses": {"200": {"description": "ok"}, **_errors(400, 401, 503)},
                },
            },
            "/healthz": _get("the process serves", [], None),
            "/readyz": _get("redis answers and a worker consumes", [], None, 503),
            "/openapi.json": _get("this document", [], None, 401),
        },
        "components": {"schemas": schemas},
    }
