"""Settings come from RUNNER_* variables; the default allow-list admits the local images."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.settings import Settings, normalise_image_name


def test_every_setting_is_overridable_by_its_runner_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNNER_PIDS_LIMIT", "64")
    monkeypatch.setenv("RUNNER_MEMORY_BYTES", "1000000")
    monkeypatch.setenv("RUNNER_IMAGES", "cyber-dojo/*:*, other")
    settings = Settings()
    assert settings.pids_limit == 64
    assert settings.memory_bytes == 1_000_000
    assert settings.image_patterns == ("cyber-dojo/*:*", "other")


@pytest.mark.parametrize(
    "image_name, allowed",
    [
        ("cyber-dojo-local/shell", True),
        ("cyber-dojo-local/shell:latest", True),
        ("cyber-dojo-local/python-pytest", True),
        ("cyber-dojo-local/gcc-assert:latest", True),
        ("cyber-dojo-local/bash-unit", True),
        ("cyber-dojo-local/python-base", False),
        ("cyber-dojo-local/ruby-judge", False),
        ("cyber-dojo-local/shell:old", False),
        ("cyber-dojo-local/shell-base", False),
        ("busybox", False),
        ("evil.example/cyber-dojo-local/shell", False),
    ],
)
def test_the_default_allow_list_admits_exactly_the_local_images(
    image_name: str, allowed: bool
) -> None:
    assert Settings().image_allowed(image_name) is allowed


@pytest.mark.parametrize(
    "given, normal",
    [
        ("busybox", "busybox:latest"),
        ("busybox:1.36", "busybox:1.36"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("localhost:5000/x:2", "localhost:5000/x:2"),
        ("x@sha256:abc", "x@sha256:abc"),
    ],
)
def test_an_untagged_image_means_latest(given: str, normal: str) -> None:
    assert normalise_image_name(given) == normal


def test_the_redis_that_make_up_and_compose_start_has_a_memory_bound_and_never_evicts() -> None:
    root = Path(__file__).resolve().parents[2]
    procfile = next(
        line for line in (root / "Procfile").read_text().splitlines() if line.startswith("redis:")
    )
    compose = (root / "docker-compose.yml").read_text()
    for config in (procfile, compose):
        assert "--maxmemory" in config and "RUNNER_REDIS_MAXMEMORY" in config
        assert "noeviction" in config
