"""The API as gunicorn serves it, over real HTTP on loopback: many long-polls and slow clients
at once cost /healthz nothing, gunicorn's own refusals have API.md's error body, and a killed
API can be restarted on its port at once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from harness.services import RedisServer, Service, alive, free_port, gunicorn, wait_for
from runner import keys
from tests.conftest import SHELL

KATA = "/katas/5A0F8E2B1C"
HEAD_TIMEOUT_S = 2
BODY_TIMEOUT_S = 3
HEALTHY_S = 3.0  # /healthz answers within this, whatever else is going on (it took 14 s)


class Api:
    """A gunicorn of the API on a loopback port, and the user's folders it was given."""

    def __init__(self, service: Service, port: int, home: Path) -> None:
        self.service = service
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.home = home

    def healthz_s(self) -> float:
        """How long /healthz takes to answer 200."""
        start = time.monotonic()
        answer = requests.get(self.url + "/healthz", timeout=10)
        assert answer.status_code == 200
        return time.monotonic() - start

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=20)


def start_api(
    api_redis: RedisServer, folder: Path, port: int | None = None, **settings: str
) -> Api:
    """gunicorn with the test's timeouts, and a HOME and XDG_RUNTIME_DIR of its own,
    answering."""
    api = launch_api(api_redis, folder, port, **settings)
    wait_for(lambda: api.healthz_s() < 10, 30, "the API answering")
    return api


def launch_api(
    api_redis: RedisServer, folder: Path, port: int | None = None, **settings: str
) -> Api:
    """gunicorn with the test's timeouts, and a HOME and XDG_RUNTIME_DIR of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / "home"
    (home / "xdg").mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {
        "RUNNER_REDIS_URL": api_redis.url,
        "RUNNER_API_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S),
        "RUNNER_API_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(home / "xdg"),
        **settings,
    }
    return Api(gunicorn(env, folder, port), port, home)


@pytest.fixture(scope="module")
def api(api_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    served = start_api(api_redis, tmp_path_factory.mktemp("served"))
    yield served
    served.service.stop()


def answer_of(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def error_of(raw: bytes) -> tuple[int, dict[str, Any]]:
    """The status and the JSON body of a raw HTTP answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body)


def assert_api_error(status: int, body: dict[str, Any], expected: int, code: str) -> None:
    assert status == expected
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def blocked_clients(client: redis.Redis) -> int:
    return int(client.info("clients")["blocked_clients"])


@pytest.mark.slow
def test_200_long_polls_wait_at_once_and_healthz_answers_meanwhile(
    api: Api, redis_client: redis.Redis
) -> None:
    accepted = requests.put(api.url + KATA, json={"image_name": SHELL}, timeout=10)
    assert accepted.status_code == 202
    job_id = accepted.json()["job_id"]
    polls = 200
    with ThreadPoolExecutor(polls) as pool:
        waits = [
            pool.submit(requests.get, f"{api.url}/jobs/{job_id}?wait=30", timeout=60)
            for _ in range(polls)
        ]
        # Every long-poll is waiting in Redis at once (with 32 threads, 32 were).
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: blocked_clients(redis_client) >= polls, 20, "200 waiting")
        assert api.healthz_s() < HEALTHY_S
        assert blocked_clients(redis_client) >= polls
        # The job ends: every waiter answers at once with it.
        ended = time.monotonic()
        pipe = redis_client.pipeline()
        pipe.hset(keys.job(job_id), mapping={"state": "done", "result": "{}"})
        pipe.rpush(keys.done(job_id), "1")
        pipe.execute()
        states = [w.result().json()["state"] for w in waits]
    assert states == ["done"] * polls
    assert time.monotonic() - ended < 20


@pytest.mark.slow
def test_stalled_and_trickling_clients_are_cut_off_and_healthz_answers_meanwhile(
    api: Api,
) -> None:
    heads, bodies = [], []
    for _ in range(40):  # headers that never end
        conn = api.connect()
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x")
        heads.append(conn)
    for _ in range(40):  # a body one byte per 20 s
        conn = api.connect()
        conn.sendall(
            f"PUT {KATA} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{".encode()
        )
        bodies.append(conn)
    started = time.monotonic()
    try:
        assert api.healthz_s() < HEALTHY_S
        for conn in heads:
            assert answer_of(conn) == b""  # closed, unanswered
        for conn in bodies:
            status, body = error_of(answer_of(conn))
            assert_api_error(status, body, 408, "request_timeout")
        assert time.monotonic() - started < BODY_TIMEOUT_S + 10
        assert api.healthz_s() < HEALTHY_S
    finally:
        for conn in heads + bodies:
            conn.close()


@pytest.mark.parametrize(
    "request_head, status, code",
    [
        (b"GET /" + b"x" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n",
            431,
            "headers_too_large",
        ),
        (b"GET /healthz HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431, "headers_too_large"),
        (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 400, "invalid_request"),
    ],
    ids=["414-request-line", "431-field-size", "431-field-count", "400-broken-http"],
)
def test_a_request_gunicorn_refuses_itself_has_the_api_error_body(
    api: Api, request_head: bytes, status: int, code: str
) -> None:
    with api.connect() as conn:
        conn.sendall(request_head)
        answered, body = error_of(answer_of(conn))
    assert_api_error(answered, body, status, code)


def test_a_chunked_body_over_the_limit_is_413(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(25):
            yield b" " * (1024 * 1024)

    answer = requests.post(
        api.url + KATA + "/avatars/lion/runs",
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert_api_error(answer.status_code, answer.json(), 413, "too_large")


def test_a_chunked_body_within_the_limit_is_read_whole(api: Api) -> None:
    answer = requests.put(
        api.url + KATA,
        data=iter([b'{"image_name": ', json.dumps(SHELL).encode(), b"}"]),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def test_a_method_not_allowed_names_the_allowed_ones(api: Api) -> None:
    answer = requests.patch(api.url + KATA, json={}, timeout=10)
    assert_api_error(answer.status_code, answer.json(), 405, "method_not_allowed")
    assert {m.strip() for m in answer.headers["Allow"].split(",")} >= {"GET", "PUT", "DELETE"}


def test_gunicorn_makes_no_control_socket_of_the_user_by_default(api: Api) -> None:
    assert not (api.home / ".gunicorn" / "gunicorn.ctl").exists()
    assert not (api.home / "xdg" / "gunicorn.ctl").exists()


def test_an_instance_given_a_control_socket_has_it_alone(
    api: Api, api_redis: RedisServer, tmp_path: Path
) -> None:
    path = tmp_path / "api.ctl"
    other = start_api(api_redis, tmp_path / "other", RUNNER_API_CONTROL_SOCKET=str(path))
    try:
        wait_for(path.is_socket, 10, "the control socket made")
        assert not (other.home / ".gunicorn" / "gunicorn.ctl").exists()
        assert api.healthz_s() < HEALTHY_S
    finally:
        other.service.stop()


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


@pytest.mark.slow
def test_an_api_whose_master_was_killed_can_be_restarted_on_its_port_at_once(
    api_redis: RedisServer, tmp_path: Path
) -> None:
    first = start_api(api_redis, tmp_path / "first")
    accepted = requests.put(first.url + KATA, json={"image_name": SHELL}, timeout=10)
    job_id = accepted.json()["job_id"]
    workers = children(first.service.pid)
    assert workers
    with ThreadPoolExecutor(8) as pool:
        # Long-polls in flight in the first API's workers as its master dies.
        for _ in range(8):
            pool.submit(requests.get, f"{first.url}/jobs/{job_id}?wait=30", timeout=60)
        time.sleep(0.5)
        os.kill(first.service.pid, signal.SIGKILL)
        killed = time.monotonic()
        second = launch_api(api_redis, tmp_path / "second", port=first.port)
        try:
            # Not the first one's orphaned workers answering: the second one listens.
            wait_for(lambda: "Listening at:" in second.service.output(), 20, "listening")
            assert time.monotonic() - killed < 10
            wait_for(lambda: not any(alive(pid) for pid in workers), 10, "the orphans gone")
            assert second.healthz_s() < HEALTHY_S
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(first.service.pid, signal.SIGKILL)  # the first one's orphans, if any
            first.service.stop()
            second.service.stop()


def test_a_long_poll_past_the_body_timeout_leaves_its_connection_usable(api: Api) -> None:
    # A GET has no body to wait for: a ?wait= longer than the body timeout is not a slow body,
    # and its keep-alive connection serves the next request as usual.
    with requests.Session() as session:
        queued = session.put(api.url + KATA, json={"image_name": SHELL}, timeout=10)
        assert queued.status_code == 202  # no worker here: it stays queued
        started = time.monotonic()
        waited = session.get(api.url + queued.json()["url"] + f"?wait={BODY_TIMEOUT_S + 1}")
        assert waited.status_code == 200 and waited.json()["state"] == "queued"
        assert time.monotonic() - started >= BODY_TIMEOUT_S
        again = session.get(api.url + "/healthz", timeout=10)
        assert again.status_code == 200, again.text
