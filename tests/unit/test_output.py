"""Output capping and decoding."""

from __future__ import annotations

import pytest

from sandbox.output import cap_text, is_text


@pytest.mark.parametrize(
    "data, limit, content, truncated",
    [
        (b"hello", 10, "hello", False),
        (b"hello", 5, "hello", False),
        (b"hello!", 5, "hello", True),
        (b"bad \xff\xfe", 10, "bad \ufffd\ufffd", False),
        ("aé".encode(), 2, "a", True),  # a character cut by the cap is dropped
        ("a€b".encode(), 3, "a", True),
        ("a€b".encode(), 4, "a€", True),
        ("😀x".encode(), 4, "😀", True),
        ("😀x".encode(), 3, "", True),
        (b"", 5, "", False),
    ],
)
def test_cap_text(data: bytes, limit: int, content: str, truncated: bool) -> None:
    assert cap_text(data, limit) == {"content": content, "truncated": truncated}


@pytest.mark.parametrize(
    "data, text",
    [
        (b"plain\n", True),
        ("ünï".encode(), True),
        (b"nul\0", False),
        (b"\xff\xfe", False),
        ("cut é".encode()[:-1], True),
        (b"", True),
    ],
)
def test_is_text(data: bytes, text: bool) -> None:
    assert is_text(data) is text
