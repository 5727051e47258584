"""Capping and decoding what a run hands back: pure functions."""

from __future__ import annotations

from typing import TypedDict


class Capped(TypedDict):
    """A text capped at a number of bytes, and whether more was written."""

    content: str
    truncated: bool


def cap_text(data: bytes, limit: int) -> Capped:
    """The first `limit` bytes of data as text, invalid UTF-8 becoming U+FFFD.

    A multi-byte character cut by the cap is dropped rather than shown as U+FFFD.
    """
    truncated = len(data) > limit
    kept = data[:limit]
    if truncated:
        kept = _without_cut_character(kept)
    return {"content": kept.decode("utf-8", errors="replace"), "truncated": truncated}


def _without_cut_character(data: bytes) -> bytes:
    """data without a trailing, incomplete UTF-8 sequence."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the start of the last character
            width = 1 if byte < 0xC0 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data[:-back] if width > back else data
    return data


def is_text(data: bytes) -> bool:
    """True for what a learner would call a text file: UTF-8 without NUL bytes."""
    if b"\0" in data:
        return False
    try:
        _without_cut_character(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
