"""Whether a kata's volume has expired: a pure function of its records, the time and the TTL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# A recorded time this far ahead of the reaper's clock is taken for a wrong record, not skew.
MAX_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Records:
    """What is recorded of a kata: ISO-8601 texts, None when missing."""

    hello_at: str | None = None
    run_at: str | None = None
    created_at: str | None = None  # the volume's creation, when nothing else is readable


@dataclass(frozen=True)
class Decision:
    """Whether to delete, the time the decision rests on, and why, in words for the log."""

    expired: bool
    latest: datetime | None
    reason: str


def parse_time(text: str | None) -> datetime | None:
    """An aware datetime from an ISO-8601 text, or None when missing or unreadable."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def decide(records: Records, now: datetime, ttl: timedelta) -> Decision:
    """Expired when the latest readable time is older than ttl (at exactly ttl: expired).

    A time up to MAX_SKEW in the future counts as now (clock skew between hosts); further
    ahead it is ignored as unreadable. With no readable hello or run time, the volume's
    creation time decides; with none at all, the kata is kept.
    """
    times = []
    ignored = []
    for name, text in (("hello_at", records.hello_at), ("run_at", records.run_at)):
        when = parse_time(text)
        if when is None:
            if text:
                ignored.append(f"{name} unreadable")
        elif when > now + MAX_SKEW:
            ignored.append(f"{name} {text} is in the future")
        else:
            times.append(min(when, now))
    source = "last touched"
    if not times:
        created = parse_time(records.created_at)
        if created is None:
            return Decision(False, None, "; ".join([*ignored, "no readable time: kept"]))
        times.append(min(created, now))
        source = "no readable hello or run time; volume created"
    latest = max(times)
    age = now - latest
    notes = "".join(f"; {note}" for note in ignored)
    if age >= ttl:
        return Decision(
            True, latest, f"{source} {latest.isoformat()}, {age} ago >= ttl {ttl}{notes}"
        )
    return Decision(False, latest, f"{source} {latest.isoformat()}, {age} ago < ttl {ttl}{notes}")
