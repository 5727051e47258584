"""Job records and per-kata queues in Redis, as the API and the workers both see them.

runner/keys.py names every key; runner/mailbox.py holds what a lease holder does with them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from runner import keys
from runner.clock import now_iso
from runner.errors import KataBusy, Unavailable
from runner.keys import IMAGES_QUEUE
from runner.mailbox import HOST_LOST
from runner.models import Request
from runner.settings import Settings
from runner.store import connect_redis, redis_errors

MAX_WAIT_S = 30  # the longest ?wait= of GET /jobs/{id}
# How long a sent drain message stands for the submissions after it: past this, a submission
# sends another, in case the first was lost (the sweep also re-wakes a kata left waiting).
WOKEN_TTL_MS = 60_000


def new_job_id() -> str:
    return "j_" + secrets.token_urlsafe(12)


_SUBMIT = """
-- submit(queue, job, active, queued, woken, kata, hosts_seen, hosts_katas, draining;
--        job_id, kata_id, kata_max, max, ttl_s, woken_ms, kind, images, live_s, lost_s,
--        default_host, host_prefix, host_lost, now, field, value, ...)
--   -> {'kata_busy' | 'full' | 'no_host' | 'lost' (the job ended host_lost) | 'wake' (send a
--       drain) | 'ok', host}
local queue, job, active, queued, woken = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local kata, hosts_seen, hosts_katas, draining = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local job_id, kata_id = ARGV[1], ARGV[2]
local kata_max, max, ttl_s, woken_ms = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local kind, images, live_s, lost_s = ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local default_host, host_prefix, host_lost, now = ARGV[11], ARGV[12], ARGV[13], ARGV[14]
local first_field = 15
if redis.call('LLEN', queue) >= kata_max then return {'kata_busy', ''} end
if tonumber(redis.call('GET', queued) or '0') >= max then return {'full', ''} end
-- Redis's clock, not the API's: the workers' heartbeats are stamped by it too.
local t = redis.call('TIME')
local at = tonumber(t[1]) + tonumber(t[2]) / 1e6
-- A host never seen is not lost (its workers have not started yet); one seen is lost once
-- its latest heartbeat is older than lost_s.
local function lost(h)
  local seen = redis.call('ZSCORE', hosts_seen, h)
  return seen ~= false and tonumber(seen) < at - lost_s
end
local host = false
if kata_id ~= images then host = redis.call('HGET', kata, 'host') end
local was_lost = host and lost(host)
redis.call('HSET', job, unpack(ARGV, first_field))
redis.call('EXPIRE', job, ttl_s)
if was_lost and kind ~= 'new_kata' then
  -- Every job of a lost host's kata ends at once: only a new_kata places it anew.
  redis.call('HSET', job, 'host', host, 'state', 'failed', 'finished_at', now,
             'error', host_lost, 'result', '')
  redis.call('HDEL', job, 'payload')
  redis.call('RPUSH', job .. ':done', '1')
  redis.call('EXPIRE', job .. ':done', ttl_s)
  return {'lost', host}
end
if not host or was_lost then
  -- Placement: the live, not draining host with the fewest katas placed on it.
  local best, fewest = false, nil
  for _, h in ipairs(redis.call('ZRANGEBYSCORE', hosts_seen, at - live_s, '+inf')) do
    if redis.call('SISMEMBER', draining, h) == 0 then
      local placed = tonumber(redis.call('ZSCORE', hosts_katas, h) or '0')
      if not best or placed < fewest or (placed == fewest and h < best) then
        best, fewest = h, placed
      end
    end
  end
  if not best then
    -- No host is live (the workers restart, or none started yet): the jobs wait for the
    -- default host, as they waited for the one host before there were several.
    if lost(default_host) then
      redis.call('DEL', job)
      return {'no_host', ''}
    end
    best = default_host
  end
  if kata_id ~= images then
    if host then redis.call('ZINCRBY', hosts_katas, -1, host) end
    redis.call('HSET', kata, 'host', best)
    redis.call('ZINCRBY', hosts_katas, 1, best)
  end
  host = best
end
redis.call('HSET', job, 'host', host)
redis.call('RPUSH', queue, job_id)
redis.call('SADD', active, kata_id)
redis.call('INCR', queued)
redis.call('INCR', host_prefix .. host .. ':queued')
if redis.call('SET', woken, '1', 'NX', 'PX', woken_ms) then return {'wake', host} end
return {'ok', host}
"""


@dataclass(frozen=True)
class Submitted:
    """A job the API accepted."""

    job_id: str
    kind: str
    kata_id: str
    # Whether the submitter sends the kata a drain message: not while one sent earlier has
    # not started yet (that drain takes this job too).
    wake: bool = True
    host: str = ""  # the host the kata is placed on: its drain goes to that host's queue
    lost: bool = False  # the kata's host is lost: the job ended at once, host_lost

    def answer(self) -> dict[str, str | None]:
        """The body of API.md's 202 answer."""
        url = f"/jobs/{self.job_id}"
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "kata_id": None if self.kata_id == IMAGES_QUEUE else self.kata_id,
            "state": "failed" if self.lost else "queued",
            "url": url,
        }


class Jobs:
    """Submitting, reading and waiting for jobs."""

    def __init__(
        self,
        client: redis.Redis,
        blocking: redis.Redis,
        *,
        job_ttl_s: int,
        max_queued: int,
        kata_max_queued: int,
        default_host: str = "local",
        host_live_s: float = 15.0,
        host_lost_s: float = 60.0,
    ) -> None:
        self.redis = client
        self.blocking = blocking  # a client whose read timeout outlasts the longest wait
        self.job_ttl_s = job_ttl_s
        self.max_queued = max_queued
        self.kata_max_queued = kata_max_queued
        self.default_host = default_host
        self.host_live_s = host_live_s
        self.host_lost_s = host_lost_s
        self._submit = client.register_script(_SUBMIT)

    @classmethod
    def connect(cls, settings: Settings) -> Jobs:
        """Jobs on the Redis the settings name, with the settings' limits.

        Every connection the API serves may hold one connection of each client at once (a
        long-poll holds a blocking one for up to MAX_WAIT_S), so each pool is as large.
        """
        most = settings.api_connections
        return cls(
            connect_redis(settings.redis_url, max_connections=most),
            connect_redis(settings.redis_url, read_timeout_s=MAX_WAIT_S + 5, max_connections=most),
            job_ttl_s=settings.job_ttl_s,
            max_queued=settings.max_queued,
            kata_max_queued=settings.kata_max_queued,
            default_host=settings.host_name,
            host_live_s=presence_ttl_s(settings),
            host_lost_s=settings.host_lost_s,
        )

    def submit(
        self,
        kind: str,
        kata_id: str,
        avatar_name: str | None,
        request: Request,
        now: datetime | None = None,
    ) -> Submitted:
        """Stores the job, its request as the model's JSON, and appends it to its kata's
        queue, in one atomic step; in that step, places a kata that has no host (or a lost
        one, at its new_kata) on a live host, and ends at once a job of a lost host's kata."""
        job_id = new_job_id()
        fields = {
            "job_id": job_id,
            "kind": kind,
            "kata_id": kata_id,
            "avatar_name": avatar_name or "",
            "state": "queued",
            "submitted_at": now_iso(now),
            "payload": request.model_dump_json(),
        }
        ended = now_iso()
        flat = [item for pair in fields.items() for item in pair]
        names = [
            keys.queue(kata_id),
            keys.job(job_id),
            keys.ACTIVE,
            keys.QUEUED,
            keys.woken(kata_id),
            keys.kata(kata_id),
            keys.HOSTS_SEEN,
            keys.HOSTS_KATAS,
            keys.HOSTS_DRAINING,
        ]
        args: list[str | int | float] = [
            job_id,
            kata_id,
            self.kata_max_queued,
            self.max_queued,
            self.job_ttl_s,
            WOKEN_TTL_MS,
            kind,
            IMAGES_QUEUE,
            self.host_live_s,
            self.host_lost_s,
            self.default_host,
            keys.HOST_PREFIX,
            HOST_LOST,
            ended,
            *flat,
        ]
        with redis_errors():
            outcome, placed = self._submit(keys=names, args=args)
        host = placed.decode()
        if outcome == b"no_host":
            raise Unavailable("no docker host is live (no worker heartbeats)")
        if outcome == b"kata_busy":
            raise KataBusy(f"kata {kata_id} already has {self.kata_max_queued} jobs queued")
        if outcome == b"full":
            raise Unavailable(f"the runner already holds {self.max_queued} queued jobs")
        if outcome == b"lost":
            return Submitted(job_id, kind, kata_id, wake=False, host=host, lost=True)
        return Submitted(job_id, kind, kata_id, wake=outcome == b"wake", host=host)

    def unsent(self, kata_id: str) -> None:
        """Forgets the kata's drain message (it could not be sent), so that the next
        submission sends one."""
        with redis_errors():
            self.redis.delete(keys.woken(kata_id))

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job as API.md shows it, or None when unknown or expired."""
        with redis_errors():
            record = self.redis.hgetall(keys.job(job_id))
        return show_job(record) if record else None  # type: ignore[arg-type]

    def wait(self, job_id: str, wait_s: float) -> dict[str, Any] | None:
        """The job once it ended, or as it is when wait_s passed.

        Blocks on the job's done list; BLMOVE of a one-element list onto itself wakes every
        waiter in turn and leaves the element for the next.
        """
        job = self.get(job_id)
        if job is None or job["state"] in ("done", "failed") or wait_s <= 0:
            return job
        with redis_errors():
            # Redis takes a fractional timeout; redis-py's annotation says int.
            self.blocking.blmove(
                keys.done(job_id),
                keys.done(job_id),
                wait_s,  # type: ignore[arg-type]
                "RIGHT",
                "LEFT",
            )
        return self.get(job_id)

    def kata(self, kata_id: str) -> dict[str, Any] | None:
        """API.md's kata record, or None when the runner knows nothing of the kata."""
        with redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(keys.kata(kata_id))
            pipe.llen(keys.queue(kata_id))
            pipe.llen(keys.inflight(kata_id))
            record, queued, running = pipe.execute()
        if not record and not queued and not running:
            return None
        return {
            "kata_id": kata_id,
            "host": _text(record.get(b"host")),
            "hello_at": _text(record.get(b"hello_at")),
            "run_at": _text(record.get(b"run_at")),
            "queued": queued,
            "running": running,
        }

    def ping(self) -> None:
        """Raises Unavailable unless Redis answers."""
        with redis_errors():
            self.redis.ping()

    def workers_consuming(self) -> int:
        """How many workers announced themselves within their heartbeat TTL."""
        with redis_errors():
            return sum(1 for _ in self.redis.scan_iter(match=keys.WORKERS, count=100))


def presence_ttl_s(settings: Settings) -> int:
    """How long a worker's presence lives after its last heartbeat: a host is live while one
    of its workers' heartbeats is at most this old."""
    return max(3, int(settings.worker_heartbeat_s * 3))


def show_job(record: dict[bytes, bytes]) -> dict[str, Any]:
    """A job hash as API.md's job."""

    def field(name: str) -> str | None:
        return _text(record.get(name.encode()))

    result, error = field("result"), field("error")
    return {
        "job_id": field("job_id"),
        "kind": field("kind"),
        "kata_id": None if field("kata_id") == IMAGES_QUEUE else field("kata_id"),
        "avatar_name": field("avatar_name") or None,
        "state": field("state"),
        "submitted_at": field("submitted_at"),
        "started_at": field("started_at"),
        "finished_at": field("finished_at"),
        "result": json.loads(result) if result else None,
        "error": json.loads(error) if error else None,
    }


def _text(value: bytes | None) -> str | None:
    return None if value is None or value == b"" else value.decode()
