-- Keep a copy of a playbook key (a DUMP taken by the caller: one instant of it), once.
--
-- KEYS[1]  the copy (the bot's own)   KEYS[2]  the drain's state (HASH)
-- ARGV[1]  a state field naming this copy ('snapshotted', 'frozen', 'held')
-- ARGV[2]  TTL in ms   ARGV[3]  the DUMP payload ('' when the key did not exist)
-- ARGV[4]  the type the key must have ('list' or 'set')
--
-- Returns the number of entries copied. A second call finds the field already set
-- and copies nothing, so a retried call cannot replace the first picture. Both keys
-- are the bot's own, in one slot; the playbook key itself was read by the caller's
-- DUMP (a point-in-time serialisation), which a Redis Cluster routes to its own node.

if #KEYS ~= 2 or #ARGV ~= 4 then
  return redis.error_reply('ERR copy: expected KEYS = copy, state; ARGV = field, ttl, payload, type')
end
local ttl = tonumber(ARGV[2])
if ttl == nil or ttl <= 0 then
  return redis.error_reply('ERR copy: the TTL must be a positive number of milliseconds')
end
local done = redis.call('HGET', KEYS[2], ARGV[1])
if done then
  return tonumber(done)
end
local copied = 0
if ARGV[3] ~= '' then
  redis.call('RESTORE', KEYS[1], ttl, ARGV[3], 'REPLACE')
  local found = redis.call('TYPE', KEYS[1])['ok']
  if found ~= ARGV[4] then
    redis.call('DEL', KEYS[1])
    return redis.error_reply('WRONGTYPE copy: the key holds a ' .. found .. ', not a ' .. ARGV[4])
  end
  if found == 'list' then
    copied = redis.call('LLEN', KEYS[1])
  else
    copied = redis.call('SCARD', KEYS[1])
  end
end
redis.call('HSET', KEYS[2], ARGV[1], copied)
if redis.call('PTTL', KEYS[2]) < 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return copied
