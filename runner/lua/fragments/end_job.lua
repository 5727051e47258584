-- Ends a job (its record is the key job): its state, end time, result and error (each ''
-- when it has none); its request goes, its record lives ttl_s more, and its waiters wake.
local function end_job(job, state, now, result, error, ttl_s)
  redis.call('HSET', job, 'state', state, 'finished_at', now, 'result', result, 'error', error)
  redis.call('HDEL', job, 'payload')
  redis.call('EXPIRE', job, ttl_s)
  redis.call('RPUSH', job .. ':done', '1')
  redis.call('EXPIRE', job .. ':done', ttl_s)
end
