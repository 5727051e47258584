"""The per-kata mailbox in Redis: a lease with a fencing counter, FIFO taking, fenced writes.

Why this keeps jobs of a kata serial and in order, whatever Celery delivers:
- only the holder of a kata's lease takes its jobs, and the lease is a single Redis key set
  with NX: two holders cannot coexist while the lease lives;
- the holder renews the lease while a job runs; if it dies, the lease expires, and the next
  holder (woken by a message or by the sweep) first fails the orphaned in-flight job
  (`worker_lost`) and removes the containers of older fences (unless the lease before its
  own was released clean: every job of that drain ended and left no container);
- every write a holder makes (taking a job, recording its end) checks its token inside one
  Lua script, so a holder that lost its lease cannot overwrite its successor's work;
- jobs leave the queue only by LMOVE from its head, so they run in the order the API appended.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import redis

from runner import keys, lua_scripts
from runner.clock import epoch
from runner.errors import WorkerLost
from runner.hostbook import HostBook
from runner.settings import Settings
from runner.store import connect_redis

WORKER_LOST = json.dumps(
    {
        "code": WorkerLost.code,
        "message": (
            "the worker died while running the job, or could not record its end within its "
            "lease (Redis unreachable for longer); it was not retried"
        ),
    }
)


@dataclass(frozen=True)
class Lease:
    """A held lease on a kata's mailbox."""

    kata_id: str
    token: str
    fence: int
    after_clean: bool = False  # the lease before this one was released clean


@dataclass(frozen=True)
class JobInput:
    """What a worker reads of a job before it runs it."""

    kind: str
    avatar_name: str
    payload: str  # the request model's JSON
    images_pulled: int  # the count of image pulls done when the job was read


class Mailbox:
    """The operations of ARCHITECTURE.md's mailbox, each one atomic in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        lease_ttl_s: float,
        job_ttl_s: int,
        host_name: str = "local",
        host_lost_s: float = 60.0,
    ) -> None:
        self.redis = client
        self.host_name = host_name  # the host whose engine this mailbox's holder uses
        self.hosts = HostBook(client, host_name=host_name, lost_s=host_lost_s, job_ttl_s=job_ttl_s)
        self.lease_ttl_ms = int(lease_ttl_s * 1000)
        self.job_ttl_s = job_ttl_s
        self._renew = lua_scripts.register(client, "renew")
        self._release = lua_scripts.register(client, "release")
        self._take = lua_scripts.register(client, "take")
        self._finish = lua_scripts.register(client, "finish")
        self._orphans = lua_scripts.register(client, "orphans")

    def acquire(self, kata_id: str, holder: str) -> Lease | None:
        """The kata's lease, or None when someone holds it. Never blocks."""
        token = f"{holder}:{secrets.token_hex(4)}"
        if not self.redis.set(keys.lease(kata_id), token, nx=True, px=self.lease_ttl_ms):
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(keys.fence(kata_id))
        pipe.get(keys.clean(kata_id))
        fence, clean = pipe.execute()
        return Lease(kata_id, token, int(fence), after_clean=clean == str(int(fence) - 1).encode())

    def renew(self, lease: Lease) -> bool:
        """Extends the lease; False when it was lost."""
        return bool(
            self._renew(
                keys={"lease": keys.lease(lease.kata_id)},
                args={"token": lease.token, "ttl_ms": self.lease_ttl_ms},
            )
        )

    def release(self, lease: Lease, *, clean: bool = False) -> int:
        """Gives the lease up; returns how many jobs are still queued (0 also deactivates).

        `clean` says the holder's jobs all ended and left no container behind: its
        successor need not look for containers of older fences.
        """
        k = lease.kata_id
        names = {
            "lease": keys.lease(k),
            "queue": keys.queue(k),
            "inflight": keys.inflight(k),
            "active": keys.ACTIVE,
            "clean": keys.clean(k),
        }
        args: dict[str, lua_scripts.Arg] = {
            "token": lease.token,
            "kata_id": k,
            "clean_fence": str(lease.fence) if clean else "",
            "clean_ttl_s": self.job_ttl_s,
        }
        return int(self._release(keys=names, args=args))

    def holder(self, kata_id: str) -> str | None:
        """The token of the kata's lease, None when nobody holds it."""
        token = self.redis.get(keys.lease(kata_id))
        return token.decode() if isinstance(token, bytes) else None

    def is_busy(self, kata_id: str) -> bool:
        """True when the kata has jobs queued or in flight."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(keys.queue(kata_id))
        pipe.llen(keys.inflight(kata_id))
        queued, in_flight = pipe.execute()
        return bool(queued or in_flight)

    def is_running(self, job_id: str, kata_id: str) -> bool:
        """True when the job is running and its kata's lease is held (its worker lives)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.job(job_id), "state")
        pipe.exists(keys.lease(kata_id))
        state, held = pipe.execute()
        return state == b"running" and bool(held)

    def run_at_due(self, kata_id: str, every_s: float) -> bool:
        """True for at most one caller per kata every every_s seconds, across every worker
        process (always when every_s is 0): whether to write the run time into the volume."""
        if every_s <= 0:
            return True
        key = keys.run_at_written(kata_id)
        return bool(self.redis.set(key, "1", nx=True, px=int(every_s * 1000)))

    def used_live(self, kata_id: str, at_epoch: float) -> None:
        """Records a run in the kata's live container: it is not idle since."""
        self.redis.zadd(keys.live_katas(self.host_name), {kata_id: at_epoch})

    def forget_live(self, kata_id: str) -> None:
        """The kata has no live container any more."""
        self.redis.zrem(keys.live_katas(self.host_name), kata_id)

    def live_katas(self, *, used_before: float | None = None, most: int = 100) -> list[str]:
        """Katas with a live container, least recently used first (only those last used
        before used_before, when given)."""
        most_recent = "+inf" if used_before is None else used_before
        found = self.redis.zrangebyscore(
            keys.live_katas(self.host_name), "-inf", most_recent, 0, most
        )
        return [k.decode() for k in found if isinstance(k, bytes)]

    def live_used_at(self, kata_id: str) -> float | None:
        """When the kata's live container last ran a run; None when it has none."""
        score = self.redis.zscore(keys.live_katas(self.host_name), kata_id)
        return None if score is None else float(score)

    def live_count(self) -> int:
        """How many katas have a live container."""
        return int(self.redis.zcard(keys.live_katas(self.host_name)))

    def sweep_due(self, every_s: float) -> bool:
        """True for at most one caller every every_s seconds, across every worker: whose
        turn it is to sweep."""
        return bool(self.redis.set(keys.SWEEP_DUE, "1", nx=True, px=max(1, int(every_s * 1000))))

    def clear_woken_and_has_work(self, kata_id: str) -> bool:
        """Clears the kata's woken mark, then says whether it has jobs queued or in flight
        (orphans to fail), or its last lease was not released clean (a lost holder's containers
        may be left).

        A drain calls it first: the mark goes before the look at the queue, so that a job
        submitted after the look sends a drain message of its own."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.woken(kata_id))
        pipe.llen(keys.queue(kata_id))
        pipe.llen(keys.inflight(kata_id))
        pipe.get(keys.fence(kata_id))
        pipe.get(keys.clean(kata_id))
        _, queued, in_flight, fence, clean = pipe.execute()
        return bool(queued > 0 or in_flight > 0 or fence != clean)

    def take(self, lease: Lease, now: str) -> str | None:
        """Moves the next job id from the queue's head to in-flight and marks it running."""
        k = lease.kata_id
        names = {
            "lease": keys.lease(k),
            "queue": keys.queue(k),
            "inflight": keys.inflight(k),
            "queued": keys.QUEUED,
            "kata": keys.kata(k),
        }
        args: dict[str, lua_scripts.Arg] = {
            "token": lease.token,
            "now": now,
            "job_prefix": keys.JOB_PREFIX,
            "host": self.host_name,
            "host_prefix": keys.HOST_PREFIX,
        }
        job_id = self._take(keys=names, args=args)
        return job_id.decode() if job_id else None

    def finish(
        self,
        lease: Lease,
        job_id: str,
        *,
        state: str,
        now: str,
        result: str,
        error: str,
        kata_effect: str,
    ) -> bool:
        """Records a job's end, if the lease is still held; False when it was lost.

        kata_effect names the kata record's time to set ('hello_at', 'run_at'), which also
        moves the kata in the index of last-seen times; 'forget' drops both.
        """
        k = lease.kata_id
        names = {
            "lease": keys.lease(k),
            "inflight": keys.inflight(k),
            "job": keys.job(job_id),
            "kata": keys.kata(k),
            "seen": keys.SEEN,
            "hosts_katas": keys.HOSTS_KATAS,
        }
        args: dict[str, lua_scripts.Arg] = {
            "token": lease.token,
            "job_id": job_id,
            "state": state,
            "now": now,
            "result": result,
            "error": error,
            "ttl_s": self.job_ttl_s,
            "kata_effect": kata_effect,
            "now_epoch": epoch(now),
            "kata_id": k,
            "job_prefix": keys.JOB_PREFIX,
        }
        return bool(self._finish(keys=names, args=args))

    def fail_orphans(self, kata_id: str, now: str, lease: Lease | None = None) -> int:
        """Fails in-flight jobs with worker_lost: the holder's (lease given) or, with no
        lease given, only while nobody holds the kata. Returns how many, -1 if not allowed."""
        names = {"lease": keys.lease(kata_id), "inflight": keys.inflight(kata_id)}
        args: dict[str, lua_scripts.Arg] = {
            "token": lease.token if lease else "",
            "now": now,
            "error": WORKER_LOST,
            "ttl_s": self.job_ttl_s,
            "job_prefix": keys.JOB_PREFIX,
        }
        return int(self._orphans(keys=names, args=args))

    def payload(self, job_id: str) -> JobInput | None:
        """The kind, avatar and request of a job, None when its record is gone."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(keys.job(job_id), ["kind", "avatar_name", "payload"])
        pipe.get(keys.IMAGES_PULLED)
        (kind, avatar, payload), pulled = pipe.execute()
        if not isinstance(kind, bytes) or not isinstance(payload, bytes):
            return None
        return JobInput(kind.decode(), (avatar or b"").decode(), payload.decode(), int(pulled or 0))

    def image_pulled(self) -> None:
        """Counts a pull: every worker looks its image names up again before its next job."""
        self.redis.incr(keys.IMAGES_PULLED)

    def active_katas(self) -> list[str]:
        """Katas with queued or in-flight jobs."""
        return sorted(k.decode() for k in self.redis.sscan_iter(keys.ACTIVE))

    def needs_drain(self, kata_id: str) -> bool:
        """True when the kata has queued jobs and nobody holds its lease."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(keys.lease(kata_id))
        pipe.llen(keys.queue(kata_id))
        held, queued = pipe.execute()
        return not held and queued > 0


def host_mailbox(settings: Settings) -> Mailbox:
    """The mailbox on the settings' Redis, as a worker of the settings' host uses it."""
    return Mailbox(
        connect_redis(settings.redis_url),
        lease_ttl_s=settings.lease_ttl_s,
        job_ttl_s=settings.job_ttl_s,
        host_name=settings.host_name,
        host_lost_s=settings.host_lost_s,
    )
