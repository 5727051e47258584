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

from runner import keys
from runner.clock import epoch
from runner.errors import WorkerLost
from runner.hostbook import CHILD_ENDED, HostBook
from runner.settings import Settings
from runner.store import connect_redis

_RENEW = """
-- renew(lease; token, ttl_ms) -> 1 when renewed, 0 when the lease is no longer the token's
local lease = KEYS[1]
local token, ttl_ms = ARGV[1], ARGV[2]
if redis.call('GET', lease) == token then return redis.call('PEXPIRE', lease, ttl_ms) end
return 0
"""

_RELEASE = """
-- release(lease, queue, inflight, active, clean; token, kata_id, clean_fence, clean_ttl_s)
--   -> jobs still queued (0 also takes the kata off the active set)
local lease, queue, inflight, active, clean = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token, kata_id, clean_fence, clean_ttl_s = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('GET', lease) == token then
  redis.call('DEL', lease)
  if clean_fence ~= '' then redis.call('SET', clean, clean_fence, 'EX', clean_ttl_s) end
end
if redis.call('LLEN', queue) == 0 and redis.call('LLEN', inflight) == 0 then
  redis.call('SREM', active, kata_id)
  return 0
end
return redis.call('LLEN', queue)
"""

_TAKE = """
-- take(lease, queue, inflight, queued, kata; token, now, job_prefix, host, host_prefix)
--   -> the job id taken, or false (also when the kata is placed on another host)
local lease, queue, inflight, queued, kata = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token, now, job_prefix, host, host_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('GET', lease) ~= token then return false end
local placed = redis.call('HGET', kata, 'host')
if placed and placed ~= host then return false end
local id = redis.call('LMOVE', queue, inflight, 'LEFT', 'RIGHT')
if not id then return false end
redis.call('DECR', queued)
local job = job_prefix .. id
if redis.call('EXISTS', job) == 1 then
  redis.call('HSET', job, 'state', 'running', 'started_at', now)
  local queued_for = redis.call('HGET', job, 'host')
  if queued_for then redis.call('DECR', host_prefix .. queued_for .. ':queued') end
  local parent = redis.call('HGET', job, 'parent')
  if parent and redis.call('HGET', job_prefix .. parent, 'state') == 'queued' then
    redis.call('HSET', job_prefix .. parent, 'state', 'running', 'started_at', now)
  end
end
return id
"""

_FINISH = (
    CHILD_ENDED
    + """
-- finish(lease, inflight, job, done, kata, seen, hosts_katas; token, job_id, state, now,
--        result, error, ttl_s, kata_effect, now_epoch, kata_id, job_prefix)
--   -> 1 when recorded, 0 when the lease was lost
local lease, inflight, job, done, kata, seen = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local hosts_katas = KEYS[7]
local token, job_id, state, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local result, error, ttl_s = ARGV[5], ARGV[6], ARGV[7]
local kata_effect, now_epoch, kata_id, job_prefix = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
if redis.call('GET', lease) ~= token then return 0 end
redis.call('LREM', inflight, 0, job_id)
if redis.call('EXISTS', job) == 1 then
  redis.call('HSET', job, 'state', state, 'finished_at', now, 'result', result, 'error', error)
  redis.call('HDEL', job, 'payload')
  redis.call('EXPIRE', job, ttl_s)
  redis.call('RPUSH', done, '1')
  redis.call('EXPIRE', done, ttl_s)
  child_ended(job_prefix, job, now, ttl_s, state, result, error)
end
if kata_effect == 'forget' then
  local host = redis.call('HGET', kata, 'host')
  if host then redis.call('ZINCRBY', hosts_katas, -1, host) end
  redis.call('DEL', kata)
  redis.call('ZREM', seen, kata_id)
elseif kata_effect ~= '' then
  redis.call('HSET', kata, kata_effect, now)
  redis.call('ZADD', seen, 'GT', now_epoch, kata_id)
end
return 1
"""
)

# Fails every job left in flight. With a token: only for its holder. Without: only when no
# one holds the lease (the sweep).
_ORPHANS = (
    CHILD_ENDED
    + """
-- orphans(lease, inflight; token or '', now, error, ttl_s, job_prefix)
--   -> how many jobs were in flight, -1 when the caller may not fail them
local lease, inflight = KEYS[1], KEYS[2]
local token, now, error, ttl_s, job_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local holder = redis.call('GET', lease)
if token == '' then
  if holder then return -1 end
elseif holder ~= token then return -1 end
local ids = redis.call('LRANGE', inflight, 0, -1)
for _, id in ipairs(ids) do fail_job(job_prefix, id, now, error, ttl_s) end
redis.call('DEL', inflight)
return #ids
"""
)

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
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._take = client.register_script(_TAKE)
        self._finish = client.register_script(_FINISH)
        self._orphans = client.register_script(_ORPHANS)

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
            self._renew(keys=[keys.lease(lease.kata_id)], args=[lease.token, self.lease_ttl_ms])
        )

    def release(self, lease: Lease, *, clean: bool = False) -> int:
        """Gives the lease up; returns how many jobs are still queued (0 also deactivates).

        `clean` says the holder's jobs all ended and left no container behind: its
        successor need not look for containers of older fences.
        """
        k = lease.kata_id
        names = [keys.lease(k), keys.queue(k), keys.inflight(k), keys.ACTIVE, keys.clean(k)]
        args: list[str | int] = [lease.token, k, str(lease.fence) if clean else "", self.job_ttl_s]
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
        names = [keys.lease(k), keys.queue(k), keys.inflight(k), keys.QUEUED, keys.kata(k)]
        args = [lease.token, now, keys.JOB_PREFIX, self.host_name, keys.HOST_PREFIX]
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
        names = [
            keys.lease(k),
            keys.inflight(k),
            keys.job(job_id),
            keys.done(job_id),
            keys.kata(k),
            keys.SEEN,
            keys.HOSTS_KATAS,
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
            keys.JOB_PREFIX,
        ]
        return bool(self._finish(keys=names, args=args))

    def fail_orphans(self, kata_id: str, now: str, lease: Lease | None = None) -> int:
        """Fails in-flight jobs with worker_lost: the holder's (lease given) or, with no
        lease given, only while nobody holds the kata. Returns how many, -1 if not allowed."""
        names = [keys.lease(kata_id), keys.inflight(kata_id)]
        token = lease.token if lease else ""
        args: list[str | int] = [token, now, WORKER_LOST, self.job_ttl_s, keys.JOB_PREFIX]
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
