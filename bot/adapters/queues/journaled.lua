-- The single-slot steps of the journaled requeue (keys in different Redis Cluster
-- hash slots; see journaled.py). Each call touches keys of one slot only. ARGV[1]
-- names the step:
--
-- 'claim'    take the heartbeats of ids that looked stuck, if they still look the same.
--            KEYS[i]   heartbeat key of the i-th id (all in one slot)
--            ARGV[i+1] the value the bot read for it ('' for no heartbeat: an empty
--                      heartbeat is malformed, never a candidate, so '' is free)
--            Returns one letter per key: '1' claimed (the heartbeat still held the value
--            read, and was deleted; or there still is none), '0' changed since (the
--            worker is alive: leave the id alone).
-- 'push'     push a batch's ids onto the queue and record it, unless already decided.
--            KEYS[1] the queue (LIST), KEYS[2] the batch's marker (same slot)
--            ARGV[2] marker lifetime in seconds, ARGV[3..] the ids
--            Returns the marker's value: 'pushed' (now or before) or 'abandoned' (a
--            recovery gave the batch up: nothing pushed, and it never will be).
-- 'abandon'  give a batch up unless it was pushed (what recovery does first).
--            KEYS[1] the marker; ARGV[2] marker lifetime in seconds
--            Returns the marker's value: 'pushed' or 'abandoned'.
--
-- The marker is written once and never changed, in the same script as the LPUSH:
-- it exists exactly when the batch's fate is decided, so a push runs at most once
-- and a recovery knows whether it ran.
--
-- Redis does not roll back a script that fails half-way: every key's type is
-- checked before the first write, and the claim reads with pcall.

local step = ARGV[1]

local function key_type(key)
  return redis.call('TYPE', key)['ok']
end

local function claim()
  local claimed = {}
  for i = 1, #KEYS do
    local expected = ARGV[i + 1]
    -- GET of a key of another type is an error; pcall makes it "changed".
    local now = redis.pcall('GET', KEYS[i])
    if type(now) == 'table' then
      claimed[i] = '0'
    elseif now == false then
      claimed[i] = expected == '' and '1' or '0'
    elseif now == expected then
      redis.call('DEL', KEYS[i])
      claimed[i] = '1'
    else
      claimed[i] = '0'
    end
  end
  return table.concat(claimed)
end

local function lifetime()
  local seconds = tonumber(ARGV[2])
  if seconds == nil or seconds < 1 then
    return nil
  end
  return math.floor(seconds)
end

local function push()
  local ttl = lifetime()
  if #KEYS ~= 2 or ttl == nil or #ARGV < 3 then
    return redis.error_reply('ERR journaled push: expected queue, marker; lifetime, ids')
  end
  local decided = redis.call('GET', KEYS[2])
  if decided then
    return decided
  end
  local queue_type = key_type(KEYS[1])
  if queue_type ~= 'list' and queue_type ~= 'none' then
    return redis.error_reply('WRONGTYPE requeue: target queue ' .. KEYS[1] .. ' is a ' .. queue_type)
  end
  local CHUNK = 1000  -- far below Lua's unpack() limit
  for from = 3, #ARGV, CHUNK do
    redis.call('LPUSH', KEYS[1], unpack(ARGV, from, math.min(from + CHUNK - 1, #ARGV)))
  end
  redis.call('SET', KEYS[2], 'pushed', 'EX', ttl)
  return 'pushed'
end

local function abandon()
  local ttl = lifetime()
  if #KEYS ~= 1 or ttl == nil then
    return redis.error_reply('ERR journaled abandon: expected marker; lifetime')
  end
  local decided = redis.call('GET', KEYS[1])
  if decided then
    return decided
  end
  redis.call('SET', KEYS[1], 'abandoned', 'EX', ttl)
  return 'abandoned'
end

if step == 'claim' then
  return claim()
elseif step == 'push' then
  return push()
elseif step == 'abandon' then
  return abandon()
end
return redis.error_reply('ERR journaled: unknown step ' .. tostring(step))
