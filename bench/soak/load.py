"""The soak's load: katas of both images, each with honest avatars, a hostile one and a canary,
driven in rounds by a few client threads; every submission recorded as a `Sent`.

A round of a kata, submitted at once so that its jobs queue behind each other: a run of each
honest avatar, the hostile avatar set to one kind of hostile code and its runs, the canary,
and a run of each honest avatar again. A kata belongs to one thread, so that its submissions
are accepted in the order sent.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests

from bench.soak.payloads import (
    CANARY,
    HONEST_FILES,
    PYTHON,
    SHELL,
    Hostile,
    hostile_kinds,
    seq_name,
)
from bench.soak.tally import Expected, Sent
from client import Accepted, ApiError, RunnerClient
from client.client import ENDED, MAX_WAIT_S

HONEST = ("alligator", "antelope")
HOSTILE = "bat"
CANARY_AVATAR = "bear"
JOB_WAIT_S = 150.0  # how long a thread waits for a job of its round before it goes on


@dataclass
class Kata:
    """A kata of the soak and how far its avatars have come."""

    kata_id: str
    image: str
    index: int
    seq: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HONEST, 0))
    rounds: int = 0
    made: bool = False  # the kata and its avatars were made

    def kinds(self) -> list[Hostile]:
        return [k for k in hostile_kinds(HONEST[0]) if self.image in k.images]


class Load:
    """The katas, the record of every submission, and the threads that submit."""

    def __init__(self, url: str, katas: int, threads: int, stopping: threading.Event) -> None:
        self.url = url
        self.stopping = stopping  # set: no further round starts
        self.katas = [
            Kata(secrets.token_hex(5), SHELL if i % 2 else PYTHON, i) for i in range(katas)
        ]
        self.threads = threads
        self.sent: list[Sent] = []
        self.lock = threading.Lock()

    def setup(self) -> None:
        """Every kata and avatar, made in parallel. A kata whose making failed (counted all
        the same) is made again, alone; one that still fails is left out of the load."""
        until = time.time() + 3600
        self._in_threads(self._make, until)
        with RunnerClient(self.url, retries=0) as client:
            for kata in self.katas:
                for _ in range(2):
                    if not kata.made:
                        self._make(client, [kata], until)
        if not any(kata.made for kata in self.katas):
            raise RuntimeError(f"no kata could be made: {self.sent[0].job}")

    def run(self, until: float) -> None:
        """Rounds of every kata until the wall-clock time `until`."""
        self._in_threads(self._rounds, until)

    def finish(self, until: float) -> None:
        """Waits for every accepted job to end, until `until`; then reads each record again."""
        with RunnerClient(self.url, retries=0) as client:
            for one in self.accepted():
                if one.state not in ENDED:
                    wait(client, one, until)
            for one in self.accepted():
                wait(client, one, time.time())  # once: a record that vanished meanwhile

    def delete(self, until: float) -> None:
        """DELETEs every kata, each with its job recorded and waited for."""
        with RunnerClient(self.url, retries=0) as client:
            deletes = [self._submit(client, kata, "", "delete", "delete") for kata in self.katas]
            for one in deletes:
                wait(client, one, until)

    def accepted(self) -> list[Sent]:
        with self.lock:
            return [s for s in self.sent if s.outcome == "accepted"]

    def _in_threads(
        self, work: Callable[[RunnerClient, list[Kata], float], None], until: float
    ) -> None:
        def thread(mine: list[Kata]) -> None:
            with RunnerClient(self.url, retries=0) as client:
                work(client, mine, until)

        started = [
            threading.Thread(target=thread, args=(self.katas[n :: self.threads],), daemon=True)
            for n in range(self.threads)
        ]
        for one in started:
            one.start()
        for one in started:
            one.join()

    def _make(self, client: RunnerClient, katas: list[Kata], until: float) -> None:
        for kata in katas:
            avatars = {
                **{a: HONEST_FILES[kata.image] for a in HONEST},
                HOSTILE: {"cyber-dojo.sh": "true"},
                CANARY_AVATAR: {"cyber-dojo.sh": CANARY},
            }
            made = [self._submit(client, kata, "", "kata", "kata")]
            made += [
                self._submit(client, kata, avatar, "avatar", "avatar", files)
                for avatar, files in avatars.items()
            ]
            for one in made:
                wait(client, one, until)
            kata.made = all(one.state == "done" for one in made)

    def _rounds(self, client: RunnerClient, katas: list[Kata], until: float) -> None:
        katas = [kata for kata in katas if kata.made]
        while katas and time.time() < until and not self.stopping.is_set():
            jobs = [one for kata in katas for one in self._round(client, kata)]
            for one in jobs:
                wait(client, one, time.time() + JOB_WAIT_S)

    def _round(self, client: RunnerClient, kata: Kata) -> Iterator[Sent]:
        kinds = kata.kinds()
        hostile = kinds[(kata.index + kata.rounds) % len(kinds)]
        kata.rounds += 1
        yield from self._honest(client, kata)
        script = {"cyber-dojo.sh": hostile.script}
        yield self._submit(client, kata, HOSTILE, "avatar", f"{hostile.name} setup", script)
        for run in hostile.runs:
            yield self._submit(
                client,
                kata,
                HOSTILE,
                "hostile",
                hostile.name,
                run.changed_files,
                run.deleted_filenames,
                run.max_seconds,
                run.expect,
            )
        yield self._submit(client, kata, CANARY_AVATAR, "canary", f"after {hostile.name}")
        yield from self._honest(client, kata)

    def _honest(self, client: RunnerClient, kata: Kata) -> Iterator[Sent]:
        for avatar in HONEST:
            kata.seq[avatar] += 1
            seq = kata.seq[avatar]
            files = {seq_name(seq): f"{seq}\n"}
            yield self._submit(client, kata, avatar, "honest", "honest", files)

    def _submit(
        self,
        client: RunnerClient,
        kata: Kata,
        avatar: str,
        role: str,
        kind: str,
        files: dict[str, str] | None = None,
        deleted: tuple[str, ...] = (),
        max_seconds: int = 10,
        expect: tuple[str, object] | None = None,
    ) -> Sent:
        """Submits one job of the kata, as its role says, and records it."""
        seq = kata.seq.get(avatar, 0) if role == "honest" else 0
        one = Sent(
            kata.kata_id, avatar, role, kind, kata.image, time.time(), seq=seq, expect=expect
        )
        with self.lock:
            self.sent.append(one)
        calls: dict[str, Callable[[], Accepted]] = {
            "kata": lambda: client.new_kata(kata.kata_id, kata.image),
            "delete": lambda: client.old_kata(kata.kata_id),
            "avatar": lambda: client.new_avatar(kata.kata_id, avatar, kata.image, files or {}),
        }
        call = calls.get(role) or (
            lambda: client.run(kata.kata_id, avatar, kata.image, files, deleted, max_seconds)
        )
        submit(one, call)
        return one


def submit(one: Sent, call: Callable[[], Accepted]) -> None:
    """Makes the call once: accepted (a 202 with its job id), refused (an error answer or no
    connection), or unknown (the request may have reached the API)."""
    try:
        accepted = call()
    except ApiError as error:
        one.outcome, one.detail = "refused", f"{error.status} {error.code}"
    except requests.ConnectionError as error:
        refused = "Connection refused" in str(error) or isinstance(error, requests.ConnectTimeout)
        one.outcome = "refused" if refused else "unknown"
        one.detail = "connection refused" if refused else type(error).__name__
    except requests.RequestException as error:
        one.outcome, one.detail = "unknown", type(error).__name__
    else:
        one.outcome, one.job_id = "accepted", accepted["job_id"]
        one.job = dict(accepted)


def wait(client: RunnerClient, one: Sent, until: float) -> None:
    """Reads the job until it has ended or `until` passes, through the API's and Redis's
    restarts; marks it vanished when the API no longer knows it."""
    if one.outcome != "accepted":
        return
    while True:
        left = until - time.time()
        try:
            job = client.job(one.job_id, wait_s=max(0.0, min(MAX_WAIT_S, left)))
        except ApiError as error:
            if error.code == "job_not_found":
                one.vanished = True
                return
        except requests.RequestException:
            pass
        else:
            one.job, one.vanished = dict(job), False
            if job["state"] in ENDED:
                return
        if time.time() >= until:
            return
        time.sleep(0.5)


def canary_baseline(url: str) -> dict[str, Expected]:
    """What the canary sees in a fresh kata of each image (the kata deleted again)."""
    expected = {}
    with RunnerClient(url, retries=3) as client:
        for image in (SHELL, PYTHON):
            kata_id = secrets.token_hex(5)
            client.wait_done(client.new_kata(kata_id, image))
            files = {"cyber-dojo.sh": CANARY}
            client.wait_done(client.new_avatar(kata_id, CANARY_AVATAR, image, files))
            result = client.run_and_wait(kata_id, CANARY_AVATAR, image)["result"] or {}
            client.wait_done(client.old_kata(kata_id))
            expected[image] = Expected(str(result["stdout"]["content"]), str(result["colour"]))
    return expected
