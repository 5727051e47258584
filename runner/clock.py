"""Times as API.md writes them: ISO-8601 UTC with a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso(now: datetime | None = None) -> str:
    """An ISO-8601 UTC time with a Z, to the microsecond."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch(iso: str) -> float:
    """Seconds since the epoch of a time written by now_iso."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
