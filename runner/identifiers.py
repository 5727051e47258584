"""The rules of API.md for kata ids, avatar names, filenames and max_seconds."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

from runner.errors import InvalidRequest

KATA_ID = re.compile(r"[0-9A-Za-z]{6,10}")
FIRST_AVATAR_UID = 40000
SANDBOX_GID = 5000
MAX_SECONDS_RANGE = range(1, 21)
MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 1024

AVATARS: tuple[str, ...] = tuple(
    resources.files("runner").joinpath("avatars.txt").read_text().split()
)
_AVATAR_INDEX = {name: index for index, name in enumerate(AVATARS)}


def check_kata_id(kata_id: str) -> str:
    """Returns kata_id when it is 6 to 10 characters of [0-9A-Za-z]."""
    if not KATA_ID.fullmatch(kata_id):
        raise InvalidRequest(f"kata_id: {kata_id!r} is not 6 to 10 characters of [0-9A-Za-z]")
    return kata_id


def avatar_uid(avatar_name: str) -> int:
    """The uid of an avatar: 40000 + its index in avatars.txt."""
    try:
        return FIRST_AVATAR_UID + _AVATAR_INDEX[avatar_name]
    except KeyError:
        raise InvalidRequest(f"avatar_name: {avatar_name!r} is not one of the 64 avatars") from None


def filename_problem(filename: str) -> str | None:
    """Why filename is not a legal relative POSIX path, or None when it is."""
    if not filename:
        return "is empty"
    if "\0" in filename:
        return "contains NUL"
    if filename.startswith("/"):
        return "is not a relative path"
    try:
        encoded = filename.encode("utf-8")
    except UnicodeEncodeError:
        return "is not UTF-8"
    if len(encoded) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    for segment in filename.split("/"):
        if segment in ("", ".", ".."):
            return "has an empty, '.' or '..' segment"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"has a segment longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def check_max_seconds(max_seconds: int) -> int:
    """Returns max_seconds when it is an integer 1..20."""
    if isinstance(max_seconds, bool) or max_seconds not in MAX_SECONDS_RANGE:
        raise InvalidRequest(f"max_seconds: {max_seconds!r} is not an integer 1..20")
    return max_seconds


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CYBER_DOJO_AVATAR = AVATARS[0]


def cyber_dojo_sandbox(cyber_dojo_id: str) -> tuple[str, str]:
    """The kata (and its avatar) of this runner that a cyber-dojo id runs in: one kata per id,
    since each id is one learner's sandbox.

    The kata is the id itself when it is a legal kata id (cyber-dojo's ids are 6 characters of
    [0-9A-Za-z]), else 10 characters of [0-9A-Za-z] from the id's sha256; the avatar is always
    the first. Every string maps, always to the same kata.
    """
    kata_id = cyber_dojo_id if KATA_ID.fullmatch(cyber_dojo_id) else _hashed(cyber_dojo_id, 10)
    return kata_id, CYBER_DOJO_AVATAR


def _hashed(text: str, length: int) -> str:
    number = int.from_bytes(_sha256(text), "big")
    digits = []
    for _ in range(length):
        number, digit = divmod(number, len(BASE62))
        digits.append(BASE62[digit])
    return "".join(digits)


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
