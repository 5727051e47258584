"""The expiry decision, table-tested with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reaper.expiry import Records, decide

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
TTL = timedelta(days=7)


def iso(delta: timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

CASES = [
    # (what, records, expired)
    ("never touched, no creation time", Records(), False),
    ("never touched, created long ago", Records(created_at=iso(-8 * DAY)), True),
    ("never touched, created lately", Records(created_at=iso(-1 * DAY)), False),
    ("hello only, recent", Records(hello_at=iso(-6 * DAY)), False),
    ("hello only, old", Records(hello_at=iso(-8 * DAY)), True),
    (
        "run after an old hello, recent",
        Records(hello_at=iso(-30 * DAY), run_at=iso(-1 * DAY)),
        False,
    ),
    ("run after hello, both old", Records(hello_at=iso(-30 * DAY), run_at=iso(-8 * DAY)), True),
    ("a new hello after an old run", Records(hello_at=iso(-1 * DAY), run_at=iso(-30 * DAY)), False),
    ("exactly at the boundary", Records(hello_at=iso(-TTL)), True),
    ("a second before the boundary", Records(hello_at=iso(-TTL + SECOND)), False),
    ("skew: a minute in the future", Records(hello_at=iso(timedelta(minutes=1))), False),
    (
        "a year in the future is ignored",
        Records(hello_at=iso(365 * DAY), run_at=iso(-8 * DAY)),
        True,
    ),
    (
        "only a wild future time, volume old",
        Records(run_at=iso(365 * DAY), created_at=iso(-9 * DAY)),
        True,
    ),
    ("unreadable hello, old run", Records(hello_at="yesterday", run_at=iso(-8 * DAY)), True),
    ("unreadable everything", Records(hello_at="garbage", run_at="2026-13-45"), False),
    ("a time without a zone is unreadable", Records(hello_at="2026-01-01T00:00:00"), False),
    ("unreadable, volume old", Records(hello_at="garbage", created_at=iso(-8 * DAY)), True),
    ("a newline at the end is read", Records(hello_at=iso(-8 * DAY) + "\n"), True),
]


@pytest.mark.parametrize("what, records, expired", CASES, ids=[c[0] for c in CASES])
def test_decide(what: str, records: Records, expired: bool) -> None:
    decision = decide(records, NOW, TTL)
    assert decision.expired is expired, decision.reason
    assert decision.reason
