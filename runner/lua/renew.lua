-- Extends the lease while it is the token's -> 1 when renewed, 0 when it is no longer.
-- keys: lease
-- args: token ttl_ms
if redis.call('GET', lease) == token then return redis.call('PEXPIRE', lease, ttl_ms) end
return 0
