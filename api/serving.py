"""The API's gunicorn worker (`worker_class = "api.serving.Worker"`): gunicorn's gevent worker,
with a deadline on request bodies and gunicorn's own error answers in API.md's body.

A connection costs a greenlet, not a thread: a `?wait=` long-poll waits in Redis's BLMOVE on
a socket that gevent's monkey-patching (done by the worker as it starts, before the app is
imported) makes cooperative, so a class of long-polling avatars never starves /healthz.
ARCHITECTURE.md ("Serving HTTP") says why this worker.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from runner.errors import RequestTimeout
from runner.settings import Settings


class DeadlineBody:
    """A request body (wsgi.input) that raises RequestTimeout once its deadline passed."""

    def __init__(self, body: Any, timeout_s: float) -> None:
        self._body = body
        self._timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        self.expired = False

    def read(self, size: int | None = None) -> bytes:
        data: bytes = self._within(self._body.read, size)
        return data

    def readline(self, size: int | None = None) -> bytes:
        line: bytes = self._within(self._body.readline, size)
        return line

    def readlines(self, size: int | None = None) -> list[bytes]:
        lines: list[bytes] = self._within(self._body.readlines, size)
        return lines

    def __iter__(self) -> DeadlineBody:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def _within(self, read: Any, size: int | None) -> Any:
        late = RequestTimeout(f"the request's body did not arrive within {self._timeout_s} s")
        left = self._deadline - time.monotonic()
        try:
            if left <= 0:
                raise late
            with gevent.Timeout(left, late):
                return read(size)
        except RequestTimeout:
            self.expired = True
            raise


def write_error(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's error answer (util.write_error), with API.md's JSON body instead of HTML."""
    from api.errors import server_answer  # after the worker's monkey-patching: it loads Flask

    util.write_nonblock(sock, server_answer(status, reason, message))


class Worker(GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker, bounding the time a request's body may take to arrive."""

    def init_process(self) -> None:
        self.body_timeout_s = Settings().api_body_timeout_s
        # gunicorn answers the requests it refuses itself (a request line or headers over its
        # limits, broken HTTP) through this function; ours gives them API.md's error body.
        util.write_error = write_error
        super().init_process()

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        body = None
        if req.body is not None:
            body = req.body = DeadlineBody(req.body, self.body_timeout_s)
        kept = super().handle_request(listener_name, req, sock, addr)
        if body is not None and body.expired:
            # The rest of the body may never come: close rather than wait for it.
            raise StopIteration
        return kept
