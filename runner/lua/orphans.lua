-- Fails every job left in flight. With a token: only for its holder. Without (token ''): only
-- when no one holds the lease (the sweep) -> how many jobs were in flight, -1 when the caller
-- may not fail them.
-- keys: lease inflight
-- args: token now error ttl_s job_prefix
-- uses: fail_job
local holder = redis.call('GET', lease)
if token == '' then
  if holder then return -1 end
elseif holder ~= token then return -1 end
local ids = redis.call('LRANGE', inflight, 0, -1)
for _, id in ipairs(ids) do fail_job(job_prefix, id, now, error, ttl_s) end
redis.call('DEL', inflight)
return #ids
