"""The Flask app factory: `gunicorn 'api.app:create_app()'` serves it."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Callable

from flask import Flask, Response, request

from api import errors, state
from api.routes import bp
from runner.errors import RunnerError, Unauthorized
from runner.jobs import Jobs
from runner.models import MAX_FILES_BYTES
from runner.queueing import celery_app, send_drain
from runner.settings import Settings

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
# JSON escaping can double a file's size on the wire (a quote becomes \"), so the body limit
# leaves room over the 10 MiB of file content that the schemas then count exactly.
MAX_BODY_BYTES = 2 * MAX_FILES_BYTES + 64 * 1024


def create_app(
    settings: Settings | None = None, wake: Callable[[str], None] | None = None
) -> Flask:
    """The API app; `wake` sends a kata's drain (a Celery message unless a test gives one)."""
    settings = settings or Settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    jobs = Jobs.connect(settings)
    celery = celery_app(settings)

    def send(kata_id: str, host_name: str) -> None:
        if wake is not None:
            wake(kata_id)
        else:
            send_drain(celery, kata_id, host_name)

    def wake_kata(kata_id: str, host_name: str) -> None:
        # The job is already stored and queued: a lost message only delays it until the
        # sweep re-wakes the kata, or the kata's next submission sends one.
        try:
            send(kata_id, host_name)
        except Exception:
            log.exception("kata %s: the drain message was not sent; the sweep will", kata_id)
            with contextlib.suppress(RunnerError):
                jobs.unsent(kata_id)

    app.extensions[state.KEY] = state.State(settings, jobs, wake_kata)
    app.register_blueprint(bp)
    errors.register(app)

    token = settings.api_token.encode()

    @app.before_request
    def authorise() -> None:
        if not token or request.path in OPEN_PATHS:
            return
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token):
            raise Unauthorized("a valid bearer token is required")

    @app.after_request
    def log_request(response: Response) -> Response:
        if response.status_code < 400:
            log.debug("%s %s %d", request.method, request.path, response.status_code)
        return response

    if token:
        log.info("the API requires a bearer token")
    else:
        log.warning(
            "no RUNNER_API_TOKEN: the API trusts every client that reaches %s:%d; "
            "keep it on loopback",
            settings.host,
            settings.port,
        )
    return app
