-- Gives the lease up (marking it released clean with its fence, when clean_fence is not '')
-- -> jobs still queued (0 also takes the kata off the active set).
-- keys: lease queue inflight active clean
-- args: token kata_id clean_fence clean_ttl_s
if redis.call('GET', lease) == token then
  redis.call('DEL', lease)
  if clean_fence ~= '' then redis.call('SET', clean, clean_fence, 'EX', clean_ttl_s) end
end
if redis.call('LLEN', queue) == 0 and redis.call('LLEN', inflight) == 0 then
  redis.call('SREM', active, kata_id)
  return 0
end
return redis.call('LLEN', queue)
