"""The Flask app factory: `gunicorn 'api.app:create_app()'` serves it."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Callable

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

from api import cyber_dojo, errors, state
from api.routes import bp
from api.serving import CYBER_DOJO_LISTENER, LISTENER_KEY
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
    app.register_blueprint(cyber_dojo.bp)
    errors.register(app)

    token = settings.api_token.encode()

    @app.before_request
    def cyber_dojo_listener() -> ResponseReturnValue | None:
        # cyber-dojo's own listener answers its protocol alone, with no token: whoever
        # reaches its address is trusted (docs/API.md, "Who may call it").
        if request.environ.get(LISTENER_KEY) == CYBER_DOJO_LISTENER:
            return cyber_dojo.answer(request.path)
        return None

    @app.before_request
    def authorise() -> ResponseReturnValue | None:
        if not token or request.path in OPEN_PATHS:
            return None
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token):
            message = "a valid bearer token is required"
            if request.path in cyber_dojo.PATHS:
                return cyber_dojo.exception(request.path, message, Unauthorized.code, 401)
            raise Unauthorized(message)
        return None

    @app.after_request
    def log_request(response: Response) -> Response:
        if response.status_code < 400:
            log.debug("%s %s %d", request.method, request.path, response.status_code)
        return response

    if settings.cyber_dojo_bind:
        log.info("cyber-dojo's protocol answers with no token on %s", settings.cyber_dojo_bind)
    elif token:
        log.warning(
            "cyber-dojo's web server sends no token: give its protocol a listener of its own "
            "(RUNNER_CYBER_DOJO_BIND) to serve one"
        )
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
