"""The katas every measurement runs on, made before the first measurement."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from runner.identifiers import AVATARS
from runner.models import Job, NewAvatar, NewKata
from runner.settings import Settings
from sandbox import operations
from sandbox.host import Host
from sandbox.images import Images

SHELL = "cyber-dojo-local/shell:latest"
PYTHON = "cyber-dojo-local/python-pytest:latest"

QUICK = "true"
CREATED = [f"out/f{i:02d}.txt" for i in range(1, 17)]
# Creates the 16 small files of CREATED.
MAKES_FILES = "mkdir -p out\n" + "".join(f"echo {name} > {name}\n" for name in CREATED)
SLEEPS = "sleep 0.2"
FLOODS = "yes"

TEST_HIKER = "from hiker import answer\n\n\ndef test_answer():\n    assert answer() == 42\n"
RED_HIKER = "def answer():\n    return 54\n"
GREEN_HIKER = "def answer():\n    return 42\n"
PYTEST_FILES = {"cyber-dojo.sh": "pytest -q", "test_hiker.py": TEST_HIKER, "hiker.py": RED_HIKER}


def new_kata_id() -> str:
    return secrets.token_hex(5)


def sent_files(count: int, size: int) -> dict[str, str]:
    """count text files of size bytes each, as a run sends them."""
    return {f"file{i:02d}.txt": secrets.token_hex(size // 2) for i in range(count)}


@dataclass
class Katas:
    """The katas and avatars of the bench; each avatar's cyber-dojo.sh says what it is for."""

    solo: str = field(default_factory=new_kata_id)  # lion: QUICK, tiger: MAKES_FILES, ...
    python: str = field(default_factory=new_kata_id)  # lion: PYTEST_FILES
    spread: list[str] = field(default_factory=list)  # lion: QUICK, tiger: SLEEPS
    dojo: str = field(default_factory=new_kata_id)  # the first dojo_size avatars: SLEEPS
    dojo_avatars: list[str] = field(default_factory=list)

    @classmethod
    def plan(cls, spread: int, dojo_size: int) -> Katas:
        return cls(
            spread=[new_kata_id() for _ in range(spread)], dojo_avatars=list(AVATARS[:dojo_size])
        )

    def make(self, settings: Settings, threads: int = 4) -> int:
        """Makes every kata and avatar with the worker's own operations, in this process.

        Not through the API: making them is not measured, and this does not depend on the
        pipeline it measures. Returns how many operations ran.
        """
        avatars: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
        for kata_id, avatar, image, files in [
            (self.solo, "lion", SHELL, {"cyber-dojo.sh": QUICK}),
            (self.solo, "tiger", SHELL, {"cyber-dojo.sh": MAKES_FILES}),
            (self.solo, "panda", SHELL, {"cyber-dojo.sh": FLOODS}),
            (self.python, "lion", PYTHON, PYTEST_FILES),
            *((kata, "lion", SHELL, {"cyber-dojo.sh": QUICK}) for kata in self.spread),
            *((kata, "tiger", SHELL, {"cyber-dojo.sh": SLEEPS}) for kata in self.spread),
            *((self.dojo, a, SHELL, {"cyber-dojo.sh": SLEEPS}) for a in self.dojo_avatars),
        ]:
            avatars.setdefault(kata_id, []).append((avatar, image, files))

        def make_kata(kata_id: str) -> int:
            host = Host.connect(settings)
            images = Images.of(host)
            first_image = avatars[kata_id][0][1]
            operations.new_kata(host, images, Job(kata_id, NewKata(image_name=first_image)))
            for avatar, image, files in avatars[kata_id]:
                request = NewAvatar(image_name=image, starting_files=files)
                operations.new_avatar(host, images, Job(kata_id, request, avatar))
            return 1 + len(avatars[kata_id])

        with ThreadPoolExecutor(threads) as pool:
            return sum(pool.map(make_kata, avatars))
