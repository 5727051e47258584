-- Ends every queued and in-flight job of a kata whose host is lost (checked again here: a
-- kata placed anew since, or a host seen again, is left alone), and takes its lease away, so
-- that a holder on the lost host that still runs cannot record an end over it
-- -> how many jobs ended, -1 when the kata is not on host or host is not lost.
-- keys: lease queue inflight active queued kata hosts_seen
-- args: kata_id host lost_s now error ttl_s job_prefix host_prefix
-- uses: fail_job
if redis.call('HGET', kata, 'host') ~= host then return -1 end
local t = redis.call('TIME')
local seen = redis.call('ZSCORE', hosts_seen, host)
if not seen or tonumber(seen) >= tonumber(t[1]) - tonumber(lost_s) then return -1 end
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
