-- Fails the job if it has not ended (its waiters woken, its pull's parent told); true when it
-- failed it now.
-- uses: end_job child_ended
local function fail_job(job_prefix, id, now, error, ttl_s)
  local job = job_prefix .. id
  local state = redis.call('HGET', job, 'state')
  if state ~= 'running' and state ~= 'queued' then return false end
  end_job(job, 'failed', now, '', error, ttl_s)
  child_ended(job_prefix, job, now, ttl_s, 'failed', '', error)
  return true
end
