"""Who may call cyber-dojo's protocol: with RUNNER_API_TOKEN set, its listener of its own
answers it with no token (and nothing else), while beside the API it needs the token like
every other path. Over real HTTP, gunicorn serving both listeners."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.services import RedisServer, free_port
from tests.api.test_serving import Api, start_api

TOKEN = "s3cret-token"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def guarded(api_redis: RedisServer, tmp_path: Path) -> Iterator[tuple[Api, str]]:
    """An API with a token, and the URL of cyber-dojo's listener of its own."""
    bind = f"127.0.0.1:{free_port()}"
    api = start_api(api_redis, tmp_path, RUNNER_API_TOKEN=TOKEN, RUNNER_CYBER_DOJO_BIND=bind)
    yield api, f"http://{bind}"
    api.service.stop()


def test_its_own_listener_answers_the_protocol_with_no_token_and_nothing_else(
    guarded: tuple[Api, str],
) -> None:
    _, url = guarded
    assert requests.get(f"{url}/alive", data="{}", headers=JSON, timeout=10).json() == {
        "alive?": True
    }
    ready = requests.get(f"{url}/ready", data="{}", headers=JSON, timeout=10)
    assert ready.json() == {"ready?": False}  # no worker consumes this Redis
    for path in ("/workers", "/katas/5A0F8E2B1C", "/metrics", "/healthz"):
        refused = requests.get(url + path, timeout=10)
        assert refused.status_code == 400
        assert refused.json()["exception"]["message"] == "unknown path"


def test_beside_the_api_the_protocol_needs_the_token(guarded: tuple[Api, str]) -> None:
    api, _ = guarded
    refused = requests.get(f"{api.url}/alive", data="{}", headers=JSON, timeout=10)
    assert refused.status_code == 401
    assert "token" in refused.json()["exception"]["message"]
    allowed = requests.get(
        f"{api.url}/alive",
        data="{}",
        headers={**JSON, "Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert allowed.json() == {"alive?": True}
    assert requests.get(f"{api.url}/workers", timeout=10).status_code == 401
