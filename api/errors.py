"""Errors become HTTP here, and only here: every answer has API.md's error body."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from runner import metrics
from runner.errors import RunnerError

log = logging.getLogger(__name__)

# Each error code's HTTP status. The first code of a status is also the code of the HTTP
# errors (routing, method, body size) that Flask raises with that status.
STATUS_OF_CODE = {
    "invalid_request": 400,
    "image_not_allowed": 400,
    "unauthorized": 401,
    "not_found": 404,
    "job_not_found": 404,
    "kata_not_found": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "too_large": 413,
    "uri_too_long": 414,
    "unsupported_media_type": 415,
    "kata_busy": 429,
    "headers_too_large": 431,
    "internal": 500,
    "unavailable": 503,
}
CODE_OF_STATUS: dict[int, str] = {}
for _code, _status in STATUS_OF_CODE.items():
    CODE_OF_STATUS.setdefault(_status, _code)


def code_of_status(status: int) -> str:
    """The error code of an HTTP error status: a status of no code of its own (417 or 501
    from the HTTP server) gets invalid_request, or internal from 500 on."""
    return CODE_OF_STATUS.get(status) or ("internal" if status >= 500 else "invalid_request")


def error_answer(
    code: str, message: str, details: list[dict[str, Any]] | None = None, status: int | None = None
) -> tuple[Response, int]:
    """API.md's error body with its status."""
    body = {"error": {"code": code, "message": message, "details": details or []}}
    metrics.ERRORS.labels(code).inc()
    return jsonify(body), status or STATUS_OF_CODE.get(code, 500)


def register(app: Flask) -> None:
    """Installs the handlers that turn every failure into an error answer."""

    @app.errorhandler(ValidationError)
    def invalid(error: ValidationError) -> tuple[Response, int]:
        details = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in error.errors(include_url=False, include_input=False)
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid"}
        where = ".".join(first["loc"]) or "body"
        log.warning("invalid request: %s: %s", where, first["msg"])
        return error_answer("invalid_request", f"{where}: {first['msg']}", details)

    @app.errorhandler(RunnerError)
    def runner_error(error: RunnerError) -> tuple[Response, int]:
        status = STATUS_OF_CODE.get(error.code, 500)
        log.log(logging.ERROR if status >= 500 else logging.WARNING, "%s: %s", error.code, error)
        return error_answer(error.code, str(error), error.details, status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        code = code_of_status(status)
        log.warning("%d %s: %s", status, code, error.description)
        answer, _ = error_answer(code, error.description or error.name, status=status)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            answer.headers["Allow"] = ", ".join(error.valid_methods)
        return answer, status

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unexpected error")
        return error_answer("internal", "internal error: the runner's log says more", status=500)


def server_answer(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP answer, with API.md's error body, to a request that the HTTP server
    refused before the app saw it (a request line or headers over its limits, broken HTTP)."""
    code = code_of_status(status)
    error = {"code": code, "message": message or reason, "details": []}
    body = json.dumps({"error": error}).encode()
    metrics.ERRORS.labels(code).inc()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body
