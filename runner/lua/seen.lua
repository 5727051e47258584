-- A worker's heartbeat for its host, stamped with Redis's clock (the API's placement reads it
-- by the same clock).
-- keys: hosts_seen
-- args: host
local t = redis.call('TIME')
redis.call('ZADD', hosts_seen, tonumber(t[1]) + tonumber(t[2]) / 1e6, host)
return 1
