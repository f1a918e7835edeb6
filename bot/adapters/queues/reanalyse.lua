-- Move the next ids the drain took onto the analysis queue, atomically.
--
-- KEYS[1] taken (LIST, the bot's own)   KEYS[2] the analysis queue (LIST)
-- KEYS[3] the drain's state (HASH)
-- ARGV[1] at most this many ids
--
-- Returns {moved, pushed so far, still waiting, 1}, or {0, 0, 0, 0} when the state
-- hash is gone (the recovery keys expired): nothing is written then. The ids leave `taken` and enter the
-- queue in one atomic step: an id is in one of the two, never both, never neither; a
-- crash between steps resumes with what is left, and two runs at once take disjoint
-- ids, so no id is pushed twice.

if #KEYS ~= 3 or #ARGV ~= 1 then
  return redis.error_reply('ERR reanalyse: expected KEYS = taken, queue, state; ARGV = count')
end
local count = tonumber(ARGV[1])
if count == nil or count < 1 then
  return redis.error_reply('ERR reanalyse: the batch size must be a positive number')
end
if redis.call('EXISTS', KEYS[3]) == 0 then
  return {0, 0, 0, 0}
end
for _, pair in ipairs({{KEYS[1], 'list'}, {KEYS[2], 'list'}}) do
  local found = redis.call('TYPE', pair[1])['ok']
  if found ~= pair[2] and found ~= 'none' then
    return redis.error_reply('WRONGTYPE reanalyse: ' .. pair[1] .. ' is a ' .. found)
  end
end
local ids = redis.call('LRANGE', KEYS[1], 0, count - 1)
if #ids > 0 then
  redis.call('LTRIM', KEYS[1], #ids, -1)
  redis.call('LPUSH', KEYS[2], unpack(ids))
end
local pushed = redis.call('HINCRBY', KEYS[3], 'pushed', #ids)
return {#ids, pushed, redis.call('LLEN', KEYS[1]), 1}
