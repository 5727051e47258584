"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import secrets

import pytest

from runner.settings import Settings

SHELL = "cyber-dojo-local/shell:latest"
PYTHON = "cyber-dojo-local/python-pytest:latest"


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings of a runner instance of this test session alone, so that a leak is ours."""
    return Settings(instance=f"test{secrets.token_hex(3)}")


def new_kata_id() -> str:
    """A random, legal kata id."""
    return secrets.token_hex(5)
