"""cyber-dojo's runner protocol through real HTTP, call by call, as its web server's
RunnerService makes them (a GET with a JSON body), on the listener of its own that the
test stack gives it; and a kata that goes red, amber and green through it."""

from __future__ import annotations

import contextlib
import io
import secrets
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.services import Registry
from runner.identifiers import cyber_dojo_sandbox
from sandbox.host import Host
from tests.conftest import PYTHON, SHELL, sdk
from tests.pipeline.test_operating import push_version
from tests.stack import Stack
from traffic_lights.rules import COLOUR_RULES_LABEL

TEST = "from hiker import answer\n\ndef test_answer():\n    assert answer() == 42\n"
HIKER_RED = "def answer():\n    return 54\n"
HIKER_GREEN = "def answer():\n    return 42\n"
HIKER_AMBER = "def answer(:\n"
PYTEST_LAMBDA = """
lambda { |stdout, stderr, status|
  output = stdout + stderr
  return :amber if /\\d+ errors? /.match(output)
  return :red if /\\d+ failed/.match(output)
  return :green if /\\d+ passed/.match(output)
  :amber
}
"""
# Beyond the translator (===), judged by the worker's Ruby judge.
UNTRANSLATED = "lambda { |stdout, stderr, status| status === 0 ? :green : :red }"
RAISES = "lambda { |stdout, stderr, status| raise 'no colour here' }"


def files(hiker: str) -> dict[str, str]:
    return {"cyber-dojo.sh": "pytest -q", "test_hiker.py": TEST, "hiker.py": hiker}


@pytest.fixture
def cyber_dojo_id(stack: Stack) -> Iterator[Callable[[], str]]:
    """New cyber-dojo ids (a kata id and an index); their katas are removed after."""
    made: list[str] = []

    def new() -> str:
        made.append(secrets.token_hex(3) + "-0")
        return made[-1]

    yield new
    for each in made:
        stack.done("DELETE", f"/katas/{cyber_dojo_sandbox(each)[0]}")


def run(
    stack: Stack,
    cyber_dojo_id: str,
    sent: dict[str, str],
    image_name: str = PYTHON,
    **manifest: Any,
) -> dict[str, Any]:
    answer = stack.cyber_dojo(
        "run_cyber_dojo_sh",
        {
            "id": cyber_dojo_id,
            "files": sent,
            "manifest": {"image_name": image_name, "max_seconds": 10, **manifest},
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert list(body) == ["run_cyber_dojo_sh"]
    result: dict[str, Any] = body["run_cyber_dojo_sh"]
    assert set(result) == {"stdout", "stderr", "status", "outcome", "log", "created", "changed"}
    assert isinstance(result["status"], str)
    return result


def test_alive_ready_and_sha_answer_under_their_keys(stack: Stack) -> None:
    assert stack.cyber_dojo("alive").json() == {"alive?": True}
    assert stack.cyber_dojo("ready").json() == {"ready?": True}
    sha = stack.cyber_dojo("sha").json()["sha"]
    assert isinstance(sha, str) and len(sha) == 40
    # No body at all, and POST, work as well.
    assert requests.get(f"{stack.cyber_dojo_url}/ready", timeout=10).json() == {"ready?": True}
    assert requests.post(f"{stack.cyber_dojo_url}/alive", timeout=10).json() == {"alive?": True}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/katas/5A0F8E2B1C", "{}", "unknown path"),
        ("/healthz", "", "unknown path"),
        ("/run_cyber_dojo", "{}", "unknown path"),
        ("/ready", "{not json", "body is not JSON"),
        ("/ready", "[1, 2]", "body is not JSON Hash"),
        ("/ready", '{"x": 1}', "unknown argument: :x"),
        ("/pull_image", '{"id": "a1B2c3-0"}', "missing argument: :image_name"),
        ("/run_cyber_dojo_sh", '{"id": "a1B2c3-0"}', "missing arguments: :files, :manifest"),
        (
            "/run_cyber_dojo_sh",
            '{"id": "a", "files": {}, "manifest": {"image_name": "busybox", "max_seconds": 5}}',
            "is not on the allow-list",
        ),
        (
            "/run_cyber_dojo_sh",
            '{"id": "a", "files": {"../x": ""}, "manifest": '
            '{"image_name": "cyber-dojo-local/shell", "max_seconds": 5}}',
            "has an empty, '.' or '..' segment",
        ),
        (
            "/run_cyber_dojo_sh",
            '{"id": "a", "files": {}, "manifest": {"image_name": "cyber-dojo-local/shell"}}',
            "manifest: missing max_seconds",
        ),
        ("/pull_image", '{"id": 1, "image_name": "x"}', "id: expected a String"),
    ],
)
def test_a_bad_call_is_400_with_cyber_dojos_exception_and_an_empty_backtrace(
    stack: Stack, path: str, body: str, message: str
) -> None:
    answer = requests.get(
        stack.cyber_dojo_url + path,
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    found = answer.json()
    assert list(found) == ["exception"]
    assert found["exception"]["path"] == path
    assert message in found["exception"]["message"]
    assert found["exception"]["backtrace"] == [] and "Traceback" not in answer.text
    assert found["exception"]["body"] == body and found["exception"]["class"] == "Runner"


def test_the_api_is_not_served_on_cyber_dojos_listener_but_the_protocol_is_beside_the_api(
    stack: Stack,
) -> None:
    assert stack.cyber_dojo("katas/5A0F8E2B1C").status_code == 400
    beside = requests.get(
        f"{stack.url}/alive", data="{}", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert beside.json() == {"alive?": True}


def test_a_kata_goes_red_amber_and_green_and_the_sandbox_is_exactly_the_files_sent(
    stack: Stack, cyber_dojo_id: Callable[[], str]
) -> None:
    kata = cyber_dojo_id()
    red = run(stack, kata, files(HIKER_RED))
    assert (red["outcome"], red["status"], red["log"]) == ("red", "1", {})
    assert "assert 54 == 42" in red["stdout"]["content"]
    amber = run(stack, kata, files(HIKER_AMBER))
    assert amber["outcome"] == "amber"
    green = run(stack, kata, files(HIKER_GREEN), rag_lambda=PYTEST_LAMBDA)
    assert (green["outcome"], green["status"]) == ("green", "0")

    # What a run made is gone before the next: the sandbox is exactly the files sent.
    # (pytest's caches of the runs before, too)
    making = {"cyber-dojo.sh": "ls -A; echo made > made.txt; printf '\\0\\1' > bin", "a.txt": "a"}
    made = run(stack, kata, making, SHELL)
    assert made["created"] == {"made.txt": {"content": "made\n", "truncated": False}}
    assert made["stdout"]["content"].split() == ["a.txt", "cyber-dojo.sh"]
    again = run(stack, kata, {"cyber-dojo.sh": "ls -A; echo changed > a.txt", "a.txt": "a"}, SHELL)
    assert again["stdout"]["content"].split() == ["a.txt", "cyber-dojo.sh"]
    assert again["changed"] == {"a.txt": {"content": "changed\n", "truncated": False}}


def test_a_kata_removed_since_its_last_run_is_made_again(
    stack: Stack, cyber_dojo_id: Callable[[], str]
) -> None:
    kata = cyber_dojo_id()
    assert run(stack, kata, {"cyber-dojo.sh": "exit 1"}, SHELL)["outcome"] == "red"
    stack.done("DELETE", f"/katas/{cyber_dojo_sandbox(kata)[0]}")  # as the reaper does
    assert run(stack, kata, {"cyber-dojo.sh": "exit 0"}, SHELL)["outcome"] == "green"


def test_timed_out_has_cyber_dojos_status_and_max_seconds_is_capped_at_15(
    stack: Stack, cyber_dojo_id: Callable[[], str]
) -> None:
    kata = cyber_dojo_id()
    slow = run(stack, kata, {"cyber-dojo.sh": "sleep 5"}, SHELL, max_seconds="1")
    assert (slow["outcome"], slow["status"], slow["log"]["max_seconds"]) == ("timed_out", "142", 1)
    capped = run(stack, kata, {"cyber-dojo.sh": "exit 0"}, SHELL, max_seconds=20)
    assert capped["outcome"] == "green"


def test_a_lambda_the_translator_cannot_translate_gets_rubys_colour(
    stack: Stack, cyber_dojo_id: Callable[[], str]
) -> None:
    kata = cyber_dojo_id()
    green = run(stack, kata, {"cyber-dojo.sh": "echo hi"}, SHELL, rag_lambda=UNTRANSLATED)
    assert (green["outcome"], green["status"], green["log"]) == ("green", "0", {})
    red = run(stack, kata, {"cyber-dojo.sh": "exit 1"}, SHELL, rag_lambda=UNTRANSLATED)
    assert (red["outcome"], red["status"]) == ("red", "1")


def test_a_lambda_that_fails_in_ruby_is_faulty_with_its_reason_in_the_log(
    stack: Stack, cyber_dojo_id: Callable[[], str]
) -> None:
    result = run(stack, cyber_dojo_id(), {"cyber-dojo.sh": "echo hi"}, SHELL, rag_lambda=RAISES)
    assert (result["outcome"], result["status"]) == ("faulty", "0")
    assert "raised RuntimeError: no colour here" in result["log"]["faulty_reason"]
    assert result["stdout"]["content"] == "hi\n"
    assert "no colour here" in stack.worker.output()


@pytest.fixture
def rag_image(host: Host) -> Iterator[str]:
    """An image allowed by the test stack with no colour rules of its own, only cyber-dojo's
    red_amber_green.rb."""
    name = f"127.0.0.1:1/runner-test/rag-{secrets.token_hex(3)}:latest"
    rb = b"lambda { |stdout, stderr, status|\n  return :green if status == 3\n  :red\n}\n"
    dockerfile = (
        f"FROM {SHELL}\nLABEL {COLOUR_RULES_LABEL}=''\n"
        "COPY red_amber_green.rb /usr/local/bin/red_amber_green.rb\n"
    ).encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for filename, content in (("Dockerfile", dockerfile), ("red_amber_green.rb", rb)):
            info = tarfile.TarInfo(filename)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    context.seek(0)
    sdk(host).images.build(fileobj=context, custom_context=True, tag=name, rm=True)
    yield name
    with contextlib.suppress(Exception):
        sdk(host).api.remove_image(name, force=True)


def test_an_images_red_amber_green_rb_gives_the_colour_when_no_lambda_is_sent(
    stack: Stack, rag_image: str, cyber_dojo_id: Callable[[], str]
) -> None:
    kata = cyber_dojo_id()
    assert run(stack, kata, {"cyber-dojo.sh": "exit 3"}, rag_image)["outcome"] == "green"
    assert run(stack, kata, {"cyber-dojo.sh": "exit 0"}, rag_image)["outcome"] == "red"
    stack.done("DELETE", f"/katas/{cyber_dojo_sandbox(kata)[0]}")  # its container holds it


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    server = Registry(tmp_path)
    yield server
    server.stop()


def test_an_image_not_on_the_host_is_pulling_until_it_is_pulled(
    stack: Stack, host: Host, registry: Registry, cyber_dojo_id: Callable[[], str]
) -> None:
    image = push_version(host, registry, "7")
    kata = cyber_dojo_id()
    try:
        first = run(stack, kata, {"cyber-dojo.sh": "echo $IMAGE_VERSION"}, image)
        assert (first["outcome"], first["status"]) == ("pulling", "141")
        pulled = ""
        for _ in range(60):
            pulled = stack.cyber_dojo("pull_image", {"id": kata, "image_name": image}).json()[
                "pull_image"
            ]
            assert pulled in ("pulling", "pulled")
            if pulled == "pulled":
                break
            time.sleep(0.5)
        assert pulled == "pulled"
        ran = run(stack, kata, {"cyber-dojo.sh": "echo $IMAGE_VERSION"}, image)
        assert ran["stdout"]["content"] == "7\n"
    finally:
        stack.done("DELETE", f"/katas/{cyber_dojo_sandbox(kata)[0]}")
        for leftover in sdk(host).api.images(name=image.rsplit(":", 1)[0]):
            sdk(host).api.remove_image(leftover["Id"], force=True)


def test_pull_image_of_an_image_on_the_host_is_pulled(stack: Stack) -> None:
    answer = stack.cyber_dojo("pull_image", {"id": "a1B2c3-0", "image_name": SHELL})
    assert answer.json() == {"pull_image": "pulled"}, answer.text


def test_any_id_the_web_server_sends_works(stack: Stack) -> None:
    odd = f"not a kata id/{secrets.token_hex(2)} ü-12"
    try:
        assert run(stack, odd, {"cyber-dojo.sh": "exit 0"}, SHELL)["outcome"] == "green"
    finally:
        stack.done("DELETE", f"/katas/{cyber_dojo_sandbox(odd)[0]}")
