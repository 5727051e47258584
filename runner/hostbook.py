"""The docker hosts in Redis: heartbeats, which kata is placed where, and ending the jobs of a
lost host's katas. runner/jobs.py places a kata in its submit script; ARCHITECTURE.md, "Many
docker hosts", says why and how."""

from __future__ import annotations

import json

import redis

from runner import keys
from runner.errors import HostLost

# A job of an image pull on one host (a child of the pull the API answered) ended: records it
# in its parent, and ends the parent with the last child; and fail_job, which fails one job
# that has not ended. Part of every script that ends jobs.
CHILD_ENDED = """
local function child_ended(job_prefix, job, now, ttl_s, state, result, error)
  local parent_id = redis.call('HGET', job, 'parent')
  if not parent_id then return end
  local parent = job_prefix .. parent_id
  if redis.call('EXISTS', parent) == 0 then return end
  local ended = {state = state}
  if result ~= '' then ended.result = cjson.decode(result) end
  if error ~= '' then ended.error = cjson.decode(error) end
  redis.call('HSET', parent, 'ended:' .. (redis.call('HGET', job, 'host') or ''),
             cjson.encode(ended))
  if redis.call('HINCRBY', parent, 'pending', -1) > 0 then return end
  local fields = redis.call('HGETALL', parent)
  local names, by_host = {}, {}
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 6) == 'ended:' then
      local name = string.sub(fields[i], 7)
      table.insert(names, name)
      by_host[name] = cjson.decode(fields[i + 1])
    end
  end
  table.sort(names)  -- the first host by name that pulled (or failed) speaks for the pull
  local hosts, done, failed = {}, nil, nil
  for _, name in ipairs(names) do
    local e = by_host[name]
    local entry = {state = e.state, error = e.error}
    if e.result then entry.digest = e.result.digest end
    hosts[name] = entry
    if e.state == 'done' then done = done or e.result else failed = failed or e.error end
  end
  if done then
    local whole = {image_name = done.image_name, digest = done.digest, hosts = hosts}
    redis.call('HSET', parent, 'state', 'done', 'result', cjson.encode(whole), 'error', '')
  else
    failed = failed or {code = 'internal', message = 'the pull ended on no host'}
    redis.call('HSET', parent, 'state', 'failed', 'result', '', 'error', cjson.encode(failed))
  end
  redis.call('HSET', parent, 'finished_at', now)
  redis.call('HDEL', parent, 'payload')
  redis.call('EXPIRE', parent, ttl_s)
  redis.call('RPUSH', parent .. ':done', '1')
  redis.call('EXPIRE', parent .. ':done', ttl_s)
end

-- Fails the job if it has not ended (its waiters woken, its pull's parent told); true when it
-- failed it now.
local function fail_job(job_prefix, id, now, error, ttl_s)
  local job = job_prefix .. id
  local state = redis.call('HGET', job, 'state')
  if state ~= 'running' and state ~= 'queued' then return false end
  redis.call('HSET', job, 'state', 'failed', 'finished_at', now, 'error', error, 'result', '')
  redis.call('HDEL', job, 'payload')
  redis.call('EXPIRE', job, ttl_s)
  redis.call('RPUSH', job .. ':done', '1')
  redis.call('EXPIRE', job .. ':done', ttl_s)
  child_ended(job_prefix, job, now, ttl_s, 'failed', '', error)
  return true
end
"""

# Ends every queued and in-flight job of a kata whose host is lost (checked again here: a
# kata placed anew since, or a host seen again, is left alone), and takes its lease away, so
# that a holder on the lost host that still runs cannot record an end over it.
_HOST_LOST = (
    CHILD_ENDED
    + """
-- host_lost(lease, queue, inflight, active, queued, kata, hosts_seen; kata_id, host, lost_s,
--           now, error, ttl_s, job_prefix, host_prefix) -> how many jobs ended, -1 if not lost
local lease, queue, inflight, active, queued = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local kata, hosts_seen = KEYS[6], KEYS[7]
local kata_id, host, lost_s, now, error = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local ttl_s, job_prefix, host_prefix = ARGV[6], ARGV[7], ARGV[8]
if redis.call('HGET', kata, 'host') ~= host then return -1 end
local t = redis.call('TIME')
local seen = redis.call('ZSCORE', hosts_seen, host)
if not seen or tonumber(seen) >= tonumber(t[1]) - lost_s then return -1 end
local waiting = redis.call('LRANGE', queue, 0, -1)
local ended = 0
local function fail(id)
  if fail_job(job_prefix, id, now, error, ttl_s) then ended = ended + 1 end
end
for _, id in ipairs(redis.call('LRANGE', inflight, 0, -1)) do fail(id) end
for _, id in ipairs(waiting) do fail(id) end
if #waiting > 0 then
  redis.call('DECRBY', queued, #waiting)
  redis.call('DECRBY', host_prefix .. host .. ':queued', #waiting)
end
redis.call('DEL', lease, queue, inflight)
redis.call('SREM', active, kata_id)
return ended
"""
)

# A worker's heartbeat for its host, stamped with Redis's clock (the API's placement reads
# it by the same clock).
_SEEN = """
-- seen(hosts_seen; host)
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) + tonumber(t[2]) / 1e6, ARGV[1])
return 1
"""

HOST_LOST = json.dumps(
    {
        "code": HostLost.code,
        "message": (
            "the kata's docker host has had no live worker for longer than RUNNER_HOST_LOST_S; "
            "its volume is lost: PUT the kata again (new_kata, new_avatar) to place it anew"
        ),
    }
)


class HostBook:
    """One host's view of every host: its own heartbeat and sweep gate, any kata's host, and
    the ending of a lost host's katas' jobs."""

    def __init__(
        self, client: redis.Redis, *, host_name: str, lost_s: float, job_ttl_s: int
    ) -> None:
        self.redis = client
        self.host_name = host_name
        self.lost_s = lost_s
        self.job_ttl_s = job_ttl_s
        self._host_lost = client.register_script(_HOST_LOST)
        self._seen = client.register_script(_SEEN)

    def sweep_due(self, every_s: float) -> bool:
        """True for at most one of this host's workers every every_s seconds: whose turn it
        is to remove the host's idle kata containers."""
        key = keys.host_sweep_due(self.host_name)
        return bool(self.redis.set(key, "1", nx=True, px=max(1, int(every_s * 1000))))

    def seen(self) -> None:
        """A heartbeat of this host: one of its workers lives."""
        self._seen(keys=[keys.HOSTS_SEEN], args=[self.host_name])

    def kata_host(self, kata_id: str) -> str | None:
        """The host the kata is placed on, None when it has none."""
        host = self.redis.hget(keys.kata(kata_id), "host")
        return host.decode() if isinstance(host, bytes) else None

    def kata_hosts(self, kata_ids: list[str]) -> list[str | None]:
        """The host of each kata, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for kata_id in kata_ids:
            pipe.hget(keys.kata(kata_id), "host")
        found = pipe.execute() if kata_ids else []
        return [h.decode() if isinstance(h, bytes) else None for h in found]

    def ages(self) -> dict[str, float]:
        """Every host ever seen, by the age of its latest heartbeat in seconds (Redis's clock)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.time()
        pipe.zrange(keys.HOSTS_SEEN, 0, -1, withscores=True)
        (seconds, micros), found = pipe.execute()
        now = seconds + micros / 1e6
        return {h.decode(): now - float(at) for h, at in found}

    def fail_lost(self, kata_id: str, host: str, now: str) -> int:
        """Ends the kata's queued and in-flight jobs host_lost, if it is still placed on host
        and host is still lost; how many, -1 when not."""
        k = kata_id
        names = [
            keys.lease(k),
            keys.queue(k),
            keys.inflight(k),
            keys.ACTIVE,
            keys.QUEUED,
            keys.kata(k),
            keys.HOSTS_SEEN,
        ]
        args: list[str | int | float] = [
            k,
            host,
            self.lost_s,
            now,
            HOST_LOST,
            self.job_ttl_s,
            keys.JOB_PREFIX,
            keys.HOST_PREFIX,
        ]
        return int(self._host_lost(keys=names, args=args))
