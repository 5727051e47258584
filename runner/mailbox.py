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
from typing import Any

import redis

from runner.jobs import (
    ACTIVE,
    IMAGES_PULLED,
    QUEUED,
    SEEN,
    P,
    done_key,
    epoch,
    job_key,
    kata_key,
    woken_key,
)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[3] ~= '' then redis.call('SET', KEYS[5], ARGV[3], 'EX', ARGV[4]) end
end
if redis.call('LLEN', KEYS[2]) == 0 and redis.call('LLEN', KEYS[3]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
  return 0
end
return redis.call('LLEN', KEYS[2])
"""

_TAKE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local id = redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT')
if not id then return false end
redis.call('DECR', KEYS[4])
local job = ARGV[3] .. id
if redis.call('EXISTS', job) == 1 then
  redis.call('HSET', job, 'state', 'running', 'started_at', ARGV[2])
end
return id
"""

_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LREM', KEYS[2], 0, ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'state', ARGV[3], 'finished_at', ARGV[4],
             'result', ARGV[5], 'error', ARGV[6])
  redis.call('HDEL', KEYS[3], 'payload')
  redis.call('EXPIRE', KEYS[3], ARGV[7])
  redis.call('RPUSH', KEYS[4], '1')
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
if ARGV[8] == 'forget' then
  redis.call('DEL', KEYS[5])
  redis.call('ZREM', KEYS[6], ARGV[10])
elseif ARGV[8] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[8], ARGV[4])
  redis.call('ZADD', KEYS[6], 'GT', ARGV[9], ARGV[10])
end
return 1
"""

# Fails every job left in flight. With a token: only for its holder. Without: only when no
# one holds the lease (the sweep).
_ORPHANS = """
local lease = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if lease then return -1 end
elseif lease ~= ARGV[1] then return -1 end
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
for _, id in ipairs(ids) do
  local job = ARGV[5] .. id
  local state = redis.call('HGET', job, 'state')
  if state == 'running' or state == 'queued' then
    redis.call('HSET', job, 'state', 'failed', 'finished_at', ARGV[2],
               'error', ARGV[3], 'result', '')
    redis.call('HDEL', job, 'payload')
    redis.call('EXPIRE', job, ARGV[4])
    redis.call('RPUSH', job .. ':done', '1')
    redis.call('EXPIRE', job .. ':done', ARGV[4])
  end
end
redis.call('DEL', KEYS[2])
return #ids
"""

WORKER_LOST = json.dumps(
    {
        "code": "worker_lost",
        "message": "the worker died while running the job; it was not retried",
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
    payload: dict[str, Any]
    images_pulled: int  # the count of image pulls done when the job was read


class Mailbox:
    """The operations of ARCHITECTURE.md's mailbox, each one atomic in Redis."""

    def __init__(self, client: redis.Redis, *, lease_ttl_s: float, job_ttl_s: int) -> None:
        self.redis = client
        self.lease_ttl_ms = int(lease_ttl_s * 1000)
        self.job_ttl_s = job_ttl_s
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._take = client.register_script(_TAKE)
        self._finish = client.register_script(_FINISH)
        self._orphans = client.register_script(_ORPHANS)

    def acquire(self, kata_id: str, holder: str) -> Lease | None:
        """The kata's lease, or None when someone holds it. Never blocks."""
        token = f"{holder}:{secrets.token_hex(4)}"
        if not self.redis.set(kata_key(kata_id, "lease"), token, nx=True, px=self.lease_ttl_ms):
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(kata_key(kata_id, "fence"))
        pipe.get(kata_key(kata_id, "clean"))
        fence, clean = pipe.execute()
        return Lease(kata_id, token, int(fence), after_clean=clean == str(int(fence) - 1).encode())

    def renew(self, lease: Lease) -> bool:
        """Extends the lease; False when it was lost."""
        return bool(
            self._renew(
                keys=[kata_key(lease.kata_id, "lease")], args=[lease.token, self.lease_ttl_ms]
            )
        )

    def release(self, lease: Lease, *, clean: bool = False) -> int:
        """Gives the lease up; returns how many jobs are still queued (0 also deactivates).

        `clean` says the holder's jobs all ended and left no container behind: its
        successor need not look for containers of older fences.
        """
        k = lease.kata_id
        keys = [kata_key(k, "lease"), kata_key(k, "queue"), kata_key(k, "inflight"), ACTIVE]
        keys.append(kata_key(k, "clean"))
        args: list[str | int] = [lease.token, k, str(lease.fence) if clean else "", self.job_ttl_s]
        return int(self._release(keys=keys, args=args))

    def run_at_due(self, kata_id: str, every_s: float) -> bool:
        """True for at most one caller per kata every every_s seconds, across every worker
        process (always when every_s is 0): whether to write the run time into the volume."""
        if every_s <= 0:
            return True
        key = kata_key(kata_id, "run_at_written")
        return bool(self.redis.set(key, "1", nx=True, px=int(every_s * 1000)))

    def has_work(self, kata_id: str) -> bool:
        """True when the kata has jobs queued or in flight (orphans to fail), or when its
        last lease was not released clean (a lost holder's containers may be left).

        A drain calls it first: it also clears the kata's woken mark, before it looks at the
        queue, so that a job submitted after the look sends a drain message of its own."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(woken_key(kata_id))
        pipe.llen(kata_key(kata_id, "queue"))
        pipe.llen(kata_key(kata_id, "inflight"))
        pipe.get(kata_key(kata_id, "fence"))
        pipe.get(kata_key(kata_id, "clean"))
        _, queued, in_flight, fence, clean = pipe.execute()
        return bool(queued > 0 or in_flight > 0 or fence != clean)

    def take(self, lease: Lease, now: str) -> str | None:
        """Moves the next job id from the queue's head to in-flight and marks it running."""
        k = lease.kata_id
        keys = [kata_key(k, "lease"), kata_key(k, "queue"), kata_key(k, "inflight"), QUEUED]
        job_id = self._take(keys=keys, args=[lease.token, now, P + "job:"])
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
        keys = [
            kata_key(k, "lease"),
            kata_key(k, "inflight"),
            job_key(job_id),
            done_key(job_id),
            kata_key(k),
            SEEN,
        ]
        args: list[str | int | float] = [
            lease.token,
            job_id,
            state,
            now,
            result,
            error,
            self.job_ttl_s,
            kata_effect,
            epoch(now),
            k,
        ]
        return bool(self._finish(keys=keys, args=args))

    def fail_orphans(self, kata_id: str, now: str, lease: Lease | None = None) -> int:
        """Fails in-flight jobs with worker_lost: the holder's (lease given) or, with no
        lease given, only while nobody holds the kata. Returns how many, -1 if not allowed."""
        keys = [kata_key(kata_id, "lease"), kata_key(kata_id, "inflight")]
        token = lease.token if lease else ""
        return int(
            self._orphans(keys=keys, args=[token, now, WORKER_LOST, self.job_ttl_s, P + "job:"])
        )

    def payload(self, job_id: str) -> JobInput | None:
        """The kind and request payload of a job, None when its record is gone."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(job_key(job_id), ["kind", "payload"])
        pipe.get(IMAGES_PULLED)
        (kind, payload), pulled = pipe.execute()
        if not isinstance(kind, bytes) or not isinstance(payload, bytes):
            return None
        return JobInput(kind.decode(), json.loads(payload), int(pulled or 0))

    def image_pulled(self) -> None:
        """Counts a pull: every worker looks its image names up again before its next job."""
        self.redis.incr(IMAGES_PULLED)

    def active_katas(self) -> list[str]:
        """Katas with queued or in-flight jobs."""
        return sorted(k.decode() for k in self.redis.sscan_iter(ACTIVE))

    def needs_drain(self, kata_id: str) -> bool:
        """True when the kata has queued jobs and nobody holds its lease."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(kata_key(kata_id, "lease"))
        pipe.llen(kata_key(kata_id, "queue"))
        held, queued = pipe.execute()
        return not held and queued > 0
