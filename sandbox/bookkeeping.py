"""What the sandbox needs of the shared bookkeeping, as small interfaces it defines itself.

A kata's lease (one holder at a time runs the kata's jobs, sweeps its disk or removes its live
container) and the host's list of live katas are kept where every worker sees them (Redis,
runner/mailbox.py's Mailbox, which has these methods). The sandbox names only what it calls,
so it never imports redis.
"""

from __future__ import annotations

from typing import Protocol, TypeVar


class HeldLease(Protocol):
    """A lease held on a kata."""

    @property
    def after_clean(self) -> bool:
        """The lease before this one was released clean: it left no container behind."""
        ...


LeaseT = TypeVar("LeaseT", bound=HeldLease)


class Leases(Protocol[LeaseT]):
    """Katas' leases: taken without waiting, given back."""

    def acquire(self, kata_id: str, holder: str) -> LeaseT | None:
        """The kata's lease, or None when someone holds it."""
        ...

    def release(self, lease: LeaseT, *, clean: bool = False) -> int:
        """Gives the lease up; how many of the kata's jobs are still queued."""
        ...


class LiveBook(Leases[LeaseT], Protocol[LeaseT]):
    """Katas' leases and the host's katas with a live container, by the time of their use."""

    def used_live(self, kata_id: str, at_epoch: float) -> None:
        """Records a run in the kata's live container."""
        ...

    def forget_live(self, kata_id: str) -> None:
        """The kata has no live container any more."""
        ...

    def live_katas(self, *, used_before: float | None = None, most: int = 100) -> list[str]:
        """Katas with a live container, least recently used first."""
        ...

    def live_used_at(self, kata_id: str) -> float | None:
        """When the kata's live container last ran a run; None when it has none."""
        ...

    def live_count(self) -> int:
        """How many katas have a live container."""
        ...
