-- Records a job's end, and its effect on the kata's record and the index of last-seen times,
-- if the lease is still the token's -> 1 when recorded, 0 when the lease was lost.
-- keys: lease inflight job kata seen hosts_katas
-- args: token job_id state now result error ttl_s kata_effect now_epoch kata_id job_prefix
-- uses: end_job child_ended
if redis.call('GET', lease) ~= token then return 0 end
redis.call('LREM', inflight, 0, job_id)
if redis.call('EXISTS', job) == 1 then
  end_job(job, state, now, result, error, ttl_s)
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
