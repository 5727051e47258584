"""A cyber-dojo run on an image cyber-dojo's runner takes for a clang one gets SYS_PTRACE, as
there, for the address sanitizer: in the container's bounding set only, so that the run's
uid, holding no capability, may trace its own processes and still neither the agent nor its
helper."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from runner.identifiers import AVATARS
from runner.models import CyberDojoRun, Job
from sandbox import cyber_dojo_run
from sandbox.host import Host
from sandbox.images import Images
from sandbox.operations import new_job_id
from tests.conftest import PYTHON, new_kata_id, sdk
from tests.sandbox.test_agent import PTRACE

SYS_PTRACE = 1 << 19
CAPABILITIES = "grep -E '^Cap(Eff|Bnd):' /proc/self/status"


@pytest.fixture
def clang(host: Host) -> Iterator[str]:
    """The python image under a name cyber-dojo's runner takes for a clang image's."""
    name = f"ghcr.io/cyber-dojo-languages/clang_runner_test:{secrets.token_hex(4)}"
    image = sdk(host).images.get(PYTHON)
    repository, tag = name.rsplit(":", 1)
    image.tag(repository, tag)
    yield name
    sdk(host).images.remove(name)


def run(host: Host, images: Images, image_name: str, script: str) -> str:
    request = CyberDojoRun(
        cyber_dojo_id="Cl4ng0",
        image_name=image_name,
        files={"cyber-dojo.sh": script},
        max_seconds=10,
    )
    job = Job(new_kata_id(), request, AVATARS[0], new_job_id())
    result = cyber_dojo_run.run(host, images, job)
    assert result["stderr"]["content"] == "", result
    return result["stdout"]["content"]


def capabilities(output: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1], 16) for line in output.splitlines()[:2]}


def test_a_clang_image_has_ptrace_in_its_bounding_set_only(
    host: Host, images: Images, clang: str
) -> None:
    caps = capabilities(run(host, images, clang, CAPABILITIES))
    assert caps["CapEff"] == 0
    assert caps["CapBnd"] & SYS_PTRACE
    other = capabilities(run(host, images, PYTHON, CAPABILITIES))
    assert not other["CapBnd"] & SYS_PTRACE


def test_a_clang_run_cannot_trace_the_agent_or_its_helper(
    host: Host, images: Images, clang: str
) -> None:
    assert run(host, images, clang, f"sleep 30 &\n{PTRACE}") == "tried\n"
