-- Stores a job (its fields: the rest of the arguments, name and value in turn) and queues it,
-- and places its kata on a host, in one atomic step -> {outcome, host}, the outcome one of
-- 'kata_busy', 'full', 'no_host', 'lost' (the job ended host_lost), 'wake' (send a drain),
-- 'ok'.
--
-- A kata the runner does not know (or whose host is lost, at its new_kata) is placed on the
-- live, not draining host with the fewest katas placed on it; every later job of the kata goes
-- to that host's queue. ARCHITECTURE.md, "Many docker hosts", says why that measure. pin
-- names a host's queue of image pulls: placed on that host, and not counted.
-- keys: queue job active queued woken kata hosts_seen hosts_katas draining
-- args: job_id kata_id kata_max max ttl_s woken_ms kind images live_s lost_s default_host
-- args: host_prefix host_lost now pin
-- rest: fields
-- uses: end_job
kata_max, max = tonumber(kata_max), tonumber(max)
live_s, lost_s = tonumber(live_s), tonumber(lost_s)
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
redis.call('HSET', job, unpack(fields))
redis.call('EXPIRE', job, ttl_s)
if was_lost and kind ~= 'new_kata' then
  -- Every job of a lost host's kata ends at once: only a new_kata places it anew.
  redis.call('HSET', job, 'host', host)
  end_job(job, 'failed', now, '', host_lost, ttl_s)
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
