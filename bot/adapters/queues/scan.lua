-- The read-only steps of stuck-job recovery. ARGV[1] names the step:
--
-- 'ids'         one SSCAN step over the processing set.
--               KEYS[1] the set; ARGV[2] cursor; ARGV[3] COUNT (a hint).
--               Returns {next cursor, lengths, ids}: ``lengths`` is the byte length
--               of every id, comma-separated, and ``ids`` all ids concatenated.
-- 'heartbeats'  classify the heartbeats of one batch.
--               KEYS[i] heartbeat key of the i-th id; ARGV[2] threshold in seconds.
--               Returns one letter per key: f fresh, s stale, m missing, x malformed.
--
-- Why scripts for reads: redis-py's pure-Python parser spends ~7 us per reply
-- element, more than Redis spends moving the id. A few elements per call instead
-- of one per id makes a million-id requeue several times faster, and the server
-- work per call stays bounded by COUNT / the batch size.
--
-- The heartbeat grammar must match bot.domain.requeue.classify_heartbeat and
-- requeue.lua: an optional '-', digits, optionally '.' and digits, at most 32 bytes.

local function scan_ids()
  local reply = redis.call('SSCAN', KEYS[1], ARGV[2], 'COUNT', ARGV[3])
  local ids = reply[2]
  local lengths = {}
  for i = 1, #ids do
    lengths[i] = #ids[i]
  end
  return {reply[1], table.concat(lengths, ','), table.concat(ids)}
end

local MAX_LENGTH = 32
local find = string.find

local function heartbeat_state(heartbeat_key, raw, now, threshold)
  if raw == false then
    -- MGET answers false for a key of another type too: that is not "missing".
    if redis.call('EXISTS', heartbeat_key) == 1 then
      return 'x'
    end
    return 'm'
  end
  if #raw > MAX_LENGTH or not (find(raw, '^%-?%d+$') or find(raw, '^%-?%d+%.%d+$')) then
    return 'x'
  end
  if now - tonumber(raw) > threshold then
    return 's'
  end
  return 'f'
end

local function classify_heartbeats()
  local threshold = tonumber(ARGV[2])
  if threshold == nil or threshold ~= threshold or threshold <= 0 then
    return redis.error_reply('ERR scan: threshold must be a positive number')
  end
  if #KEYS == 0 then
    return ''
  end
  -- TIME returns strings.
  local time = redis.call('TIME')
  local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
  -- One MGET rather than a GET per key: redis.call's overhead exceeds the read.
  local heartbeats = redis.call('MGET', unpack(KEYS))
  local states = {}
  for i = 1, #KEYS do
    states[i] = heartbeat_state(KEYS[i], heartbeats[i], now, threshold)
  end
  return table.concat(states)
end

if ARGV[1] == 'ids' then
  return scan_ids()
elseif ARGV[1] == 'heartbeats' then
  return classify_heartbeats()
end
return redis.error_reply('ERR scan: unknown step ' .. tostring(ARGV[1]))
