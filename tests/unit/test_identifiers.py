"""The identifier and filename rules of API.md."""

from __future__ import annotations

import pytest

from runner.errors import InvalidRequest
from runner.identifiers import (
    AVATARS,
    avatar_uid,
    check_kata_id,
    check_max_seconds,
    filename_problem,
)


@pytest.mark.parametrize("kata_id", ["5A0F8E", "5A0F8E2B1C", "abcdefg"])
def test_legal_kata_ids(kata_id: str) -> None:
    assert check_kata_id(kata_id) == kata_id


@pytest.mark.parametrize(
    "kata_id", ["", "5A0F8", "5A0F8E2B1C0", "5A0F/E", "5A0F.E", "5A0F8É", "../../x"]
)
def test_illegal_kata_ids(kata_id: str) -> None:
    with pytest.raises(InvalidRequest):
        check_kata_id(kata_id)


def test_there_are_64_avatars_and_the_index_fixes_the_uid() -> None:
    assert len(AVATARS) == len(set(AVATARS)) == 64
    assert avatar_uid("alligator") == 40000
    assert avatar_uid("lion") == 40028
    assert avatar_uid("zebra") == 40063
    with pytest.raises(InvalidRequest):
        avatar_uid("unicorn")


@pytest.mark.parametrize(
    "filename",
    [
        "hiker.py",
        "a/b/c.txt",
        "with space",
        "quote's",
        "$(id)",
        "-dash",
        "back\\slash",
        "ünï",
        "..dots",
        ".hidden",
        "x" * 255,
        "/".join(["y" * 200] * 5),
    ],
)
def test_legal_filenames(filename: str) -> None:
    assert filename_problem(filename) is None


@pytest.mark.parametrize(
    "filename, problem",
    [
        ("", "is empty"),
        ("/etc/passwd", "is not a relative path"),
        ("../x", "has an empty, '.' or '..' segment"),
        ("a/../b", "has an empty, '.' or '..' segment"),
        ("./a", "has an empty, '.' or '..' segment"),
        ("a//b", "has an empty, '.' or '..' segment"),
        ("a/", "has an empty, '.' or '..' segment"),
        ("nul\0byte", "contains NUL"),
        ("x" * 256, "has a segment longer than 255 bytes"),
        ("é" * 128, "has a segment longer than 255 bytes"),
        ("/".join(["y" * 200] * 6), "is longer than 1024 bytes"),
        ("\udcff", "is not UTF-8"),
    ],
)
def test_illegal_filenames(filename: str, problem: str) -> None:
    assert filename_problem(filename) == problem


@pytest.mark.parametrize(
    "seconds, legal", [(0, False), (1, True), (20, True), (21, False), (True, False)]
)
def test_max_seconds_is_1_to_20(seconds: int, legal: bool) -> None:
    if legal:
        assert check_max_seconds(seconds) == seconds
    else:
        with pytest.raises(InvalidRequest):
            check_max_seconds(seconds)
