"""`make demo`: a Python kata on the running service goes red, amber, then green.

It finds the service as the service finds itself, by RUNNER_HOST, RUNNER_PORT and
RUNNER_API_TOKEN, read here directly: the client imports nothing of the service.
"""

from __future__ import annotations

import os
import secrets
import sys
from typing import Any, NamedTuple

import requests

from client import ApiError, JobFailed, RunnerClient

PYTHON = "cyber-dojo-local/python-pytest:latest"
TEST = "from hiker import answer\n\n\ndef test_answer():\n    assert answer() == 42\n"
STARTING_FILES = {
    "cyber-dojo.sh": "pytest -q\n",
    "test_hiker.py": TEST,
    "hiker.py": "def answer():\n    return 6 * 9\n",
}


class Step(NamedTuple):
    """One run of the demo and the colour it should give."""

    avatar: str
    changed_files: dict[str, str]
    expected: str


RUNS = [
    Step("lion", {}, "red"),
    Step("tiger", {"hiker.py": "def answer(:\n    return 42\n"}, "amber"),
    Step("tiger", {"hiker.py": "def answer():\n    return 6 * 7\n"}, "green"),
]


def base_url(host: str, port: str) -> str:
    """Where the API listens, as a client reaches it."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"


def summary(result: dict[str, Any]) -> str:
    """pytest's last line ("1 failed in 0.03s"), else the last line of the output."""
    for stream in ("stdout", "stderr"):
        content: str = result[stream]["content"]
        lines = [line for line in content.splitlines() if line.strip()]
        if lines:
            return lines[-1].strip("= ")
    return f"status {result['status']}"


def demo(client: RunnerClient) -> bool:
    """Runs the kata; True when every traffic light had the colour expected."""
    kata_id = secrets.token_hex(5)
    try:
        client.wait_done(client.new_kata(kata_id, PYTHON))
        print(f"kata {kata_id} on {PYTHON}")
        for avatar in sorted({step.avatar for step in RUNS}):
            client.wait_done(client.new_avatar(kata_id, avatar, PYTHON, STARTING_FILES))
        as_expected = True
        for step in RUNS:
            job = client.run_and_wait(kata_id, step.avatar, PYTHON, step.changed_files)
            result = job["result"] or {}
            print(f"{step.avatar:<6}{result['colour']:<7}{summary(result)}", flush=True)
            as_expected = as_expected and result["colour"] == step.expected
        return as_expected
    finally:
        client.wait_done(client.old_kata(kata_id))
        print(f"kata {kata_id} removed")


def main() -> int:
    url = base_url(
        os.environ.get("RUNNER_HOST", "127.0.0.1"), os.environ.get("RUNNER_PORT", "4597")
    )
    token = os.environ.get("RUNNER_API_TOKEN") or None
    with RunnerClient(url, token=token, timeout_s=60) as client:
        try:
            print(f"runner at {url}: {client.readyz()['reason']}")
            if demo(client):
                return 0
            print("a traffic light was not the colour expected", file=sys.stderr)
        except requests.ConnectionError:
            print(f"no runner answers at {url}: start one with `make up`", file=sys.stderr)
        except (ApiError, JobFailed, TimeoutError) as error:
            print(f"the demo stopped: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
