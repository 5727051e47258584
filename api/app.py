"""The Flask app factory: `gunicorn 'api.app:create_app()'` serves it."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Callable

from flask import Flask, Response, request

from api import errors
from api.errors import ApiError
from api.routes import bp
from api.schemas import MAX_FILES_BYTES
from runner.errors import RunnerError
from runner.jobs import Jobs, P, redis_errors
from runner.queueing import DRAIN, celery_app
from runner.settings import Settings

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
# JSON escaping can double a file's size on the wire (a quote becomes \"), so the body limit
# leaves room over the 10 MiB of file content that the schemas then count exactly.
MAX_BODY_BYTES = 2 * MAX_FILES_BYTES + 64 * 1024


def _drain_sender(settings: Settings) -> Callable[[str], None]:
    """Sends a kata's drain message through Celery."""
    celery = celery_app(settings)

    def send(kata_id: str) -> None:
        celery.send_task(DRAIN, args=[kata_id])

    return send


def create_app(
    settings: Settings | None = None, wake: Callable[[str], None] | None = None
) -> Flask:
    """The API app; `wake` sends a kata's drain (a Celery message unless a test gives one)."""
    settings = settings or Settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    jobs = Jobs.connect(settings)
    redis = jobs.redis
    send = wake or _drain_sender(settings)

    def wake_kata(kata_id: str) -> None:
        # The job is already stored and queued: a lost message only delays it until the
        # sweep re-wakes the kata, or the kata's next submission sends one.
        try:
            send(kata_id)
        except Exception:
            log.exception("kata %s: the drain message was not sent; the sweep will", kata_id)
            with contextlib.suppress(RunnerError):
                jobs.unsent(kata_id)

    def readiness() -> tuple[bool, str]:
        with redis_errors():
            workers = sum(1 for _ in redis.scan_iter(match=f"{P}worker:*", count=100))
        if workers == 0:
            return False, "no worker is consuming"
        return True, f"{workers} worker(s) consuming"

    app.extensions["runner.settings"] = settings
    app.extensions["runner.jobs"] = jobs
    app.extensions["runner.wake"] = wake_kata
    app.extensions["runner.readiness"] = readiness
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
            raise ApiError("unauthorized", "a valid bearer token is required")

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
