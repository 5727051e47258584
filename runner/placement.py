"""The submit script: a job stored and queued, and its kata placed on a host, in one atomic step.

A kata the runner does not know (or whose host is lost, at its new_kata) is placed on the live,
not draining host with the fewest katas placed on it; every later job of the kata goes to that
host's queue. ARCHITECTURE.md, "Many docker hosts", says why that measure.
"""

from __future__ import annotations

SUBMIT = """
-- submit(queue, job, active, queued, woken, kata, hosts_seen, hosts_katas, draining;
--        job_id, kata_id, kata_max, max, ttl_s, woken_ms, kind, images, live_s, lost_s,
--        default_host, host_prefix, host_lost, now, pin, field, value, ...)
--   -> {'kata_busy' | 'full' | 'no_host' | 'lost' (the job ended host_lost) | 'wake' (send a
--       drain) | 'ok', host}
local queue, job, active, queued, woken = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local kata, hosts_seen, hosts_katas, draining = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local job_id, kata_id = ARGV[1], ARGV[2]
local kata_max, max, ttl_s, woken_ms = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local kind, images, live_s, lost_s = ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local default_host, host_prefix, host_lost, now = ARGV[11], ARGV[12], ARGV[13], ARGV[14]
local pin = ARGV[15]  -- a host's queue of image pulls: placed on that host, and not counted
local first_field = 16
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
if not host and pin ~= '' then
  redis.call('HSET', kata, 'host', pin)
  host = pin
end
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
  -- Any drain message of the kata is on its lost host's queues: its new host gets one.
  redis.call('DEL', woken)
end
redis.call('HSET', job, 'host', host)
redis.call('RPUSH', queue, job_id)
redis.call('SADD', active, kata_id)
redis.call('INCR', queued)
redis.call('INCR', host_prefix .. host .. ':queued')
if redis.call('SET', woken, '1', 'NX', 'PX', woken_ms) then return {'wake', host} end
return {'ok', host}
"""
