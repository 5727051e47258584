"""What the API app holds, and its one typed accessor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from runner.jobs import Jobs
from runner.settings import Settings

KEY = "runner"


@dataclass(frozen=True)
class State:
    """The settings, the jobs in Redis, and how a kata's drain is sent."""

    settings: Settings
    jobs: Jobs
    # Sends the kata's drain to its host's queue (kata_id, host_name); never raises: a lost
    # message only delays the kata.
    wake: Callable[[str, str], None]


def state() -> State:
    """The state of the app handling this request."""
    found: State = current_app.extensions[KEY]
    return found
