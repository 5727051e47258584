"""One live container per kata: made at the kata's first run that needs it, each run a request
to its agent, which runs it as the avatar's uid; reused only while it is provably clean after
each run.

Runs of a kata never overlap (they are serialized by the kata's lease), so one container can
serve them all, one at a time. The rule that keeps each run as isolated as a fresh container:
after a run that left anything behind outside its sandbox (a process, a file, an IPC object),
was killed for memory, timed out or was still running at the deadline, the container is
removed and the next run gets a new one.

Whether a container may serve again is decided by its agent (agent/, sandbox/agent.py), the
container's own root process, which the learner's uid can neither signal, ptrace nor write to:
it answers each run over the engine's attach stream with how the run ended and its own look at
the container; anything but a whole, clean answer removes it.

Which container serves a kata is the engine's to say (the containers labelled with the kata
and the live role): a worker process remembers the id of the last one it used, and forgets it
as soon as the engine says it is gone or stopped, whoever removed or stopped it.

Which katas have one is in the shared bookkeeping (a LiveBook of sandbox/bookkeeping.py, in
Redis: by the time of their last run), so that idle ones are removed after RUNNER_KATA_IDLE_S
and the least recently used is evicted when the host holds RUNNER_MAX_LIVE_KATAS. Removing
one takes the kata's lease, as every job does: a run is never in the container being removed.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner import metrics
from runner.errors import RunnerError
from sandbox import agent
from sandbox.bookkeeping import LiveBook
from sandbox.engine import Container, ContainerSpec
from sandbox.host import FENCE_LABEL, ROLE_LABEL, RUNNER_LABEL, Host
from sandbox.report import Frames, parse_answer

log = logging.getLogger(__name__)

LIVE_ROLE = "live"
IMAGE_LABEL = f"{RUNNER_LABEL}.image_id"
# The version of the agent a container runs: one made by another version of the runner (with
# another agent, or another wire) is replaced, as one of another image is.
AGENT_LABEL = f"{RUNNER_LABEL}.agent"
# How long the worker waits for the answer to a look: the agent looks again for at most 0.2 s
# while a run's last processes end; no answer by then (a container out of memory or pids, a
# stream cut) is a doubt, and a doubt removes the container.
LOOK_TIMEOUT_S = 5.0


@dataclass
class KataContainers:
    """The live kata containers of one docker host, as one worker process uses them."""

    host: Host
    book: LiveBook[Any] | None = None  # None: no idle or LRU bookkeeping (tests of one kata)
    wake: Callable[[str], None] = lambda kata_id: None
    _known: dict[str, tuple[str, str]] = field(default_factory=dict)  # kata: (id, image id)

    @classmethod
    def of(
        cls, host: Host, book: LiveBook[Any], wake: Callable[[str], None]
    ) -> KataContainers | None:
        """The host's live kata containers when its settings run katas in them; None when
        every run gets a fresh container."""
        return cls(host, book, wake) if host.settings.run_container == "kata" else None

    def container_for(self, kata_id: str, run: ContainerSpec) -> tuple[str, bool]:
        """The id of the kata's live container for run's image, made if needed, and
        whether it was made now. Only the holder of the kata's lease calls it."""
        known = self._known.get(kata_id)
        if known is not None and known[1] == run.image:
            return known[0], False
        for container in self._live(kata_id):
            labels = container.labels
            if labels.get(IMAGE_LABEL) == run.image and labels.get(AGENT_LABEL) == agent.sha():
                self._known[kata_id] = (container.id, run.image)
                return container.id, False
            self.remove(kata_id, "image_changed", container.id)
        self._note(kata_id, "room for its live container", self._make_room, kata_id)
        spec = ContainerSpec(
            image=run.image,
            command=[agent.AGENT, "serve"],
            user="root",
            name=f"{self.host.settings.instance}-{kata_id}-live-{secrets.token_hex(4)}",
            labels={
                **self.host.labels(kata_id, LIVE_ROLE, fence=run.labels.get(FENCE_LABEL, "0")),
                IMAGE_LABEL: run.image,
                AGENT_LABEL: agent.sha(),
            },
            binds=run.binds,
            limits=run.limits,
            working_dir="/",
            open_stdin=True,
        )
        container_id = self.host.engine.start_container(spec)
        self._known[kata_id] = (container_id, run.image)
        self.used(kata_id)
        return container_id, True

    def used(self, kata_id: str) -> None:
        """Records a run of the kata: its container is not idle."""
        if self.book is not None:
            self._note(kata_id, "its use", self.book.used_live, kata_id, time.time())

    def _note(self, kata_id: str, what: str, call: Callable[..., object], *args: object) -> None:
        """Bookkeeping in Redis, which a run does not wait for: a Redis that does not answer
        fails no run (the job's end waits for Redis anyway), and the idle sweep or the next
        removal puts live_katas right."""
        try:
            call(*args)
        except Exception as error:
            log.warning("kata %s: %s is not recorded: %s", kata_id, what, error)

    def look(self, container_id: str) -> Frames:
        """Asks the container's agent whether it may serve another avatar (its answer's
        left_clean, dirty and oom_kills); ContainerGone when the engine no longer runs it."""
        nonce = agent.nonce()
        answer = self.host.engine.ask(
            container_id, agent.look(nonce), nonce.encode(), LOOK_TIMEOUT_S
        )
        return parse_answer(answer)

    def forget(self, kata_id: str) -> None:
        """The container this process knew for the kata may be gone (removed by another)."""
        self._known.pop(kata_id, None)

    def lost(self, kata_id: str, container_id: str) -> None:
        """The engine says the kata's container is gone or stopped: it goes (a stopped one
        would keep its volume in use) and is forgotten, so that the next run makes a new one."""
        self._known.pop(kata_id, None)
        self.remove(kata_id, "lost", container_id)

    def dropped(self, kata_id: str) -> None:
        """The kata went, and its containers with it."""
        self._known.pop(kata_id, None)
        if self.book is not None:
            self._note(kata_id, "the end of its live container", self.book.forget_live, kata_id)

    def is_live(self, kata_id: str, idle_s: float, now: float | None = None) -> bool:
        """True while the kata's live container is in use: run in within idle_s."""
        used_at = None if self.book is None else self.book.live_used_at(kata_id)
        return used_at is not None and used_at >= (now or time.time()) - idle_s

    def remove(self, kata_id: str, reason: str, container_id: str = "") -> None:
        """Removes the kata's live container (the one given, else every one)."""
        ids = [container_id] if container_id else [c.id for c in self._live(kata_id)]
        for found in ids:
            log.info("kata %s: removing its live container %s: %s", kata_id, found[:12], reason)
            self.host.engine.remove_container(found)
            metrics.KATA_CONTAINERS_REMOVED.labels(reason).inc()
        self._known.pop(kata_id, None)
        if self.book is not None and not container_id:
            self._note(kata_id, "the end of its live container", self.book.forget_live, kata_id)

    def remove_idle(self, idle_s: float, now: float | None = None) -> int:
        """Removes the live containers of katas with no run for idle_s; how many."""
        if self.book is None:
            return 0
        before = (now or time.time()) - idle_s
        return sum(self.remove_free(k, "idle") for k in self.book.live_katas(used_before=before))

    def _make_room(self, kata_id: str) -> None:
        """Evicts the least recently used katas' containers while the host holds the most."""
        if self.book is None:
            return
        most = self.host.settings.max_live_katas
        excess = self.book.live_count() + 1 - most
        if excess <= 0:
            return
        for other in self.book.live_katas(most=excess + 8):
            if excess <= 0:
                break
            if other != kata_id and self.remove_free(other, "evicted"):
                excess -= 1
        if excess > 0:
            log.warning("%d live kata containers over %d: every other kata is busy", excess, most)

    def remove_free(self, kata_id: str, reason: str) -> bool:
        """Removes a kata's live container under its lease; False when the kata is busy."""
        if self.book is None:
            self.remove(kata_id, reason)
            return True
        lease = self.book.acquire(kata_id, f"live-{reason}")
        if lease is None:
            return False
        try:
            self.remove(kata_id, reason)
        except RunnerError as error:
            log.warning("kata %s: its live container was not removed: %s", kata_id, error)
            return False
        finally:
            # As clean as the lease before: this holder left nothing, and removed nothing else.
            if self.book.release(lease, clean=lease.after_clean):
                self.wake(kata_id)  # a job came meanwhile: its drain found the lease taken
        return True

    def _live(self, kata_id: str) -> list[Container]:
        return [
            c for c in self.host.kata_containers(kata_id) if c.labels.get(ROLE_LABEL) == LIVE_ROLE
        ]
