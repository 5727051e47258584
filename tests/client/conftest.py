"""The client against a whole runner (the pipeline's stack) and against API apps served here."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask, Response
from werkzeug.serving import make_server

from client import RunnerClient
from tests.conftest import PYTHON, new_kata_id
from tests.stack import Stack

TEST = "from hiker import answer\n\ndef test_answer():\n    assert answer() == 42\n"
STARTING_FILES = {
    "cyber-dojo.sh": "pytest -q",
    "test_hiker.py": TEST,
    "hiker.py": "def answer():\n    return 54\n",
}


@pytest.fixture
def runner(stack: Stack) -> Iterator[RunnerClient]:
    """A client of the stack."""
    with RunnerClient(stack.url, timeout_s=60) as client:
        yield client


@pytest.fixture
def make_kata(runner: RunnerClient) -> Iterator[Callable[..., str]]:
    """Creates Python katas with avatars through the client; removes them through it after."""
    made: list[str] = []

    def make(*avatars: str) -> str:
        kata_id = new_kata_id()
        made.append(kata_id)
        runner.wait_done(runner.new_kata(kata_id, PYTHON))
        for avatar in avatars:
            runner.wait_done(runner.new_avatar(kata_id, avatar, PYTHON, STARTING_FILES))
        return kata_id

    yield make
    for kata_id in made:
        runner.wait_done(runner.old_kata(kata_id))


class Statuses(list[int]):
    """The statuses a served app answered, in order; `first_503` is set at the first 503."""

    def __init__(self) -> None:
        super().__init__()
        self.first_503 = threading.Event()


@contextmanager
def serving(app: Flask) -> Iterator[tuple[str, Statuses]]:
    """The app served on a free loopback port from a thread: its URL and its answers' statuses."""
    statuses = Statuses()

    @app.after_request
    def record(answer: Response) -> Response:
        statuses.append(answer.status_code)
        if answer.status_code == 503:
            statuses.first_503.set()
        return answer

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", statuses
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
