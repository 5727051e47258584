-- A job of an image pull on one host (a child of the pull the API answered) ended: records it
-- in its parent, and ends the parent with the last child.
-- uses: end_job
local function child_ended(job_prefix, job, now, ttl_s, state, result, error)
  local parent_id = redis.call('HGET', job, 'parent')
  if not parent_id then return end
  local parent = job_prefix .. parent_id
  if redis.call('EXISTS', parent) == 0 then return end
  local ended = {state = state}
  if result ~= '' then ended.result = cjson.decode(result) end
  if error ~= '' then ended.error = cjson.decode(error) end
  redis.call('HSET', parent, 'ended:' .. (redis.call('HGET', job, 'host') or ''),
             cjson.encode(ended))
  if redis.call('HINCRBY', parent, 'pending', -1) > 0 then return end
  local fields = redis.call('HGETALL', parent)
  local names, by_host = {}, {}
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 6) == 'ended:' then
      local name = string.sub(fields[i], 7)
      table.insert(names, name)
      by_host[name] = cjson.decode(fields[i + 1])
    end
  end
  table.sort(names)  -- the first host by name that pulled (or failed) speaks for the pull
  local hosts, done, failed = {}, nil, nil
  for _, name in ipairs(names) do
    local e = by_host[name]
    local entry = {state = e.state, error = e.error}
    if e.result then entry.digest = e.result.digest end
    hosts[name] = entry
    if e.state == 'done' then done = done or e.result else failed = failed or e.error end
  end
  if done then
    local whole = {image_name = done.image_name, digest = done.digest, hosts = hosts}
    end_job(parent, 'done', now, cjson.encode(whole), '', ttl_s)
  else
    failed = failed or {code = 'internal', message = 'the pull ended on no host'}
    end_job(parent, 'failed', now, '', cjson.encode(failed), ttl_s)
  end
end
