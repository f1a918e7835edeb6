-- One step of counting what an emergency drain took. Each call handles the next
-- ARGV[2] entries from a cursor kept in the state hash, and moves the cursor in the
-- same atomic step, so a repeated or resumed call never counts an entry twice.
--
-- KEYS[1] remaining (LIST: the queue when the drain ended)
-- KEYS[2] remaining-set (SET built from it)
-- KEYS[3] snapshot (LIST)     KEYS[4] held (SET: the processing set when it ended)
-- KEYS[5] taken (LIST)        KEYS[6] state (HASH)
-- (all the bot's own keys, in one slot)
-- ARGV[1] 'index' (add the next remaining entries to remaining-set) or
--         'sort' (sort the next snapshot entries: left / in flight / taken)
-- ARGV[2] entries per step    ARGV[3] TTL in ms for what is written
--
-- Returns {cursor, total, taken, left, in_flight} after the step; cursor -1 when the
-- state hash is gone (the recovery keys expired).

if #KEYS ~= 6 or #ARGV ~= 3 then
  return redis.error_reply('ERR sort: expected 6 keys and ARGV = phase, step, ttl')
end
local step, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
if step == nil or step < 1 or ttl == nil or ttl <= 0 then
  return redis.error_reply('ERR sort: step and TTL must be positive numbers')
end
local phase = ARGV[1]
if phase ~= 'index' and phase ~= 'sort' then
  return redis.error_reply('ERR sort: unknown phase ' .. phase)
end
local expected = {{KEYS[1], 'list'}, {KEYS[2], 'set'}, {KEYS[3], 'list'}, {KEYS[4], 'set'},
                  {KEYS[5], 'list'}}
for _, pair in ipairs(expected) do
  local found = redis.call('TYPE', pair[1])['ok']
  if found ~= pair[2] and found ~= 'none' then
    return redis.error_reply('WRONGTYPE sort: ' .. pair[1] .. ' is a ' .. found)
  end
end

local state = KEYS[6]
if redis.call('EXISTS', state) == 0 then
  return {-1, 0, 0, 0, 0}  -- the recovery keys expired: nothing to count
end
local function field(name)
  return tonumber(redis.call('HGET', state, name) or '0')
end
local function counts(cursor, total)
  return {cursor, total, field('taken'), field('left'), field('in_flight')}
end

if phase == 'index' then
  local cursor, total = field('indexed'), redis.call('LLEN', KEYS[1])
  local ids = redis.call('LRANGE', KEYS[1], cursor, cursor + step - 1)
  if #ids > 0 then
    redis.call('SADD', KEYS[2], unpack(ids))
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
  cursor = cursor + #ids
  redis.call('HSET', state, 'indexed', cursor)
  return counts(cursor, total)
end

local cursor, total = field('sorted'), redis.call('LLEN', KEYS[3])
local ids = redis.call('LRANGE', KEYS[3], cursor, cursor + step - 1)
local taken, left, in_flight = {}, 0, 0
for i = 1, #ids do
  local id = ids[i]
  if redis.call('SISMEMBER', KEYS[2], id) == 1 then
    left = left + 1
  elseif redis.call('SISMEMBER', KEYS[4], id) == 1 then
    in_flight = in_flight + 1
  else
    taken[#taken + 1] = id
  end
end
if #taken > 0 then
  redis.call('RPUSH', KEYS[5], unpack(taken))
  redis.call('PEXPIRE', KEYS[5], ttl)
end
redis.call('HINCRBY', state, 'taken', #taken)
redis.call('HINCRBY', state, 'left', left)
redis.call('HINCRBY', state, 'in_flight', in_flight)
cursor = cursor + #ids
redis.call('HSET', state, 'sorted', cursor)
return counts(cursor, total)
