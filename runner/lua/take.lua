-- Moves the next job id from the queue's head to in-flight and marks it (and an image pull's
-- parent) running -> the job id taken, or false (also when the kata is placed on another host).
-- keys: lease queue inflight queued kata
-- args: token now job_prefix host host_prefix
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
