"""A host's state, by the age of its latest heartbeat."""

from __future__ import annotations

import pytest

from runner.status import host_state


@pytest.mark.parametrize(
    ("age_s", "state"),
    [
        (None, "unseen"),
        (0.0, "live"),
        (3.0, "live"),
        (3.1, "silent"),
        (8.0, "silent"),
        (8.1, "lost"),
    ],
)
def test_a_host_is_live_then_silent_then_lost(age_s: float | None, state: str) -> None:
    assert host_state(age_s, live_s=3, lost_s=8) == state
