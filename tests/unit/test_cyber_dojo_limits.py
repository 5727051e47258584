"""A cyber-dojo run container's limits, as cyber-dojo's runner sets them where this runner
follows it (sandbox/cyber_dojo_run.py)."""

from __future__ import annotations

import pytest

from runner.settings import MiB, Settings
from sandbox.cyber_dojo_run import cyber_dojo_limits

CLANG = "ghcr.io/cyber-dojo-languages/clang_assert:1a2b3c4"


def ulimits(limits: dict[str, object]) -> dict[str, int]:
    found = limits["ulimits"]
    assert isinstance(found, list)
    return {u["name"]: u["soft"] for u in found if u["soft"] == u["hard"]}


@pytest.mark.parametrize(
    "image", ["cyber-dojo-local/python-pytest:latest", CLANG, "cyberdojofoundation/clang_x"]
)
def test_every_run_gets_cyber_dojos_tmpfs_and_ulimits(image: str) -> None:
    limits = cyber_dojo_limits(Settings(), 41966, 51966, image)
    assert limits["read_only"] is False
    assert limits["network_mode"] == "none"
    assert limits["security_opt"] == ["no-new-privileges"]
    tmpfs = limits["tmpfs"]
    assert "exec" in tmpfs["/sandbox"].split(",") and "uid=41966" in tmpfs["/sandbox"]
    assert "exec" in tmpfs["/tmp"].split(",")
    got = ulimits(limits)
    assert (got["nofile"], got["locks"], got["stack"], got["core"]) == (1024, 1024, 16 * MiB, 0)


def test_a_clang_image_gets_ptrace_and_no_data_limit_as_on_cyber_dojo() -> None:
    limits = cyber_dojo_limits(Settings(), 41966, 51966, CLANG)
    assert limits["cap_add"] == ["SETUID", "SETGID", "SYS_PTRACE"]
    assert "data" not in ulimits(limits)


def test_any_other_image_gets_a_data_limit_of_4_gib_and_no_ptrace() -> None:
    limits = cyber_dojo_limits(Settings(), 41966, 51966, "cyber-dojo-local/gcc-assert:latest")
    assert limits["cap_add"] == ["SETUID", "SETGID"]
    assert ulimits(limits)["data"] == 4 * 1024 * MiB
