"""The API's gunicorn worker (`worker_class = "api.serving.Worker"`): gunicorn's gevent worker,
with a deadline on request bodies and gunicorn's own error answers in API.md's body.

A connection costs a greenlet, not a thread: a `?wait=` long-poll waits in Redis's BLMOVE on
a socket that gevent's monkey-patching (done by the worker as it starts, before the app is
imported) makes cooperative, so a class of long-polling avatars never starves /healthz.
ARCHITECTURE.md ("Serving HTTP") says why this worker.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from runner.errors import RequestTimeout
from runner.settings import Settings

# The WSGI environ key that says a request came through cyber-dojo's own listener
# (RUNNER_CYBER_DOJO_BIND); a client cannot set it (its headers become HTTP_* keys).
LISTENER_KEY = "runner.listener"
CYBER_DOJO_LISTENER = "cyber_dojo"
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


class ListenerMark:
    """WSGI middleware: marks the requests whose connection came to one of `addresses`
    (the local addresses of the listeners of cyber-dojo's protocol)."""

    def __init__(self, app: Any, addresses: list[Any]) -> None:
        self.app = app
        self.addresses = addresses

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ.pop(LISTENER_KEY, None)
        sock = environ.get("gunicorn.socket")
        if sock is not None and any(_same(sock.getsockname(), a) for a in self.addresses):
            environ[LISTENER_KEY] = CYBER_DOJO_LISTENER
        return self.app(environ, start_response)


def _same(local: Any, listener: Any) -> bool:
    """Whether a connection's local address is on the listener: a unix socket's path, or
    the port and the address (any address, for a listener on all of them)."""
    if isinstance(listener, str | bytes) or isinstance(local, str | bytes):
        return bool(local == listener)
    return bool(local[1] == listener[1] and (listener[0] in WILDCARDS or local[0] == listener[0]))


def cyber_dojo_addresses(listeners: list[Any], bind: str) -> list[Any]:
    """The local addresses of the listeners bound to `bind` (RUNNER_CYBER_DOJO_BIND)."""
    if not bind:
        return []
    wanted = util.parse_address(bind)
    if isinstance(wanted, str | bytes):  # a unix socket's path
        return [wanted]
    host, port = wanted
    hosts = {host} | {info[4][0] for info in socket.getaddrinfo(host or None, port)}
    names = [listener.getsockname() for listener in listeners]
    return [
        n for n in names if not isinstance(n, str | bytes) and n[:2] in {(h, port) for h in hosts}
    ]


class DeadlineBody:
    """A request body (wsgi.input) that raises RequestTimeout once its deadline passed."""

    def __init__(self, body: Any, timeout_s: float) -> None:
        self._body = body
        self._timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        self.expired = False

    def disarm(self) -> None:
        """The handler has returned: what gunicorn still reads of the body (to reuse the
        connection) is not the client's delay."""
        self._deadline = float("inf")

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


def disarming(app: Any) -> Any:
    """The app, disarming each request body's deadline once the app has returned: a
    long-poll is handled for up to 30 s, and the deadline is for the body's arrival, not
    for what gunicorn reads of it afterwards to reuse the connection."""

    def disarmed_after(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return app(environ, start_response)
        finally:
            body = environ.get("wsgi.input")
            if isinstance(body, DeadlineBody):
                body.disarm()

    return disarmed_after


class Worker(GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker, bounding the time a request's body may take to arrive."""

    def init_process(self) -> None:
        settings = Settings()
        self.body_timeout_s = settings.api_body_timeout_s
        self.cyber_dojo_bind = settings.cyber_dojo_bind
        # gunicorn answers the requests it refuses itself (a request line or headers over its
        # limits, broken HTTP) through this function; ours gives them API.md's error body.
        util.write_error = write_error
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app: Any = disarming(self.wsgi)  # type: ignore[has-type]  # gunicorn sets it, untyped
        addresses = cyber_dojo_addresses(self.sockets, self.cyber_dojo_bind)
        if self.cyber_dojo_bind and not addresses:
            raise RuntimeError(f"no listener on RUNNER_CYBER_DOJO_BIND={self.cyber_dojo_bind}")
        if addresses:
            app = ListenerMark(app, addresses)
        self.wsgi = app

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        body = None
        if req.body is not None:
            body = req.body = DeadlineBody(req.body, self.body_timeout_s)
        kept = super().handle_request(listener_name, req, sock, addr)
        if body is not None and body.expired:
            # The rest of the body may never come: close rather than wait for it.
            raise StopIteration
        return kept
