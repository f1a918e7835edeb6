-- Move stuck job ids from the processing set back onto a queue, atomically.
--
-- KEYS[1]      processing set (SET)
-- KEYS[2]      target queue (LIST)
-- KEYS[3..]    heartbeat keys of the ids that looked stuck (every key in KEYS:
--              cluster safety)
-- ARGV[1]      threshold in seconds: a heartbeat older than this is stale
-- ARGV[2]      heartbeat key prefix, ARGV[3] suffix: key = prefix .. job id .. suffix
--
-- Returns {moved, renewed, gone, malformed, up to 10 malformed ids...}:
--   moved      SREMed from the set (SREM returned 1), heartbeat deleted, LPUSHed
--   renewed    heartbeat fresh again since the caller looked: left alone
--   gone       stale or missing heartbeat but no longer in the set (another requeue
--              or its worker took it): not pushed
--   malformed  heartbeat is not a number, or its key is not a string: left alone
--
-- The job id is cut out of its heartbeat key, so a key and its id cannot get out
-- of step (and each id crosses the wire once).
--
-- The script is the authority on what moves: it reads every heartbeat again, at
-- Redis time, when the batch runs. It runs atomically, so no client ever sees an
-- id in neither place, and two requeues (or a retried call) never push the same id
-- twice: only one SREM returns 1.
--
-- Redis does not roll back a script that fails half-way, so everything that could
-- make a write fail is checked before the first write: the arguments, every key's
-- shape and both key types.
--
-- The heartbeat grammar must match bot.domain.requeue.classify_heartbeat and
-- scan.lua: an optional '-', digits, optionally '.' and digits, at most 32 bytes.

local function fail(message)
  return redis.error_reply('ERR requeue: ' .. message)
end

if #KEYS < 2 or #ARGV ~= 3 then
  return fail('expected KEYS = set, queue, heartbeat keys; ARGV = threshold, prefix, suffix')
end

local threshold = tonumber(ARGV[1])
if threshold == nil or threshold ~= threshold or threshold <= 0 then
  return fail('threshold must be a positive number')
end

-- Cut every job id out of its key first: a key that does not fit the template
-- stops the script here, before anything was written.
local prefix, suffix = ARGV[2], ARGV[3]
local first, cut = #prefix + 1, #suffix
local sub = string.sub
local job_ids = {}
for i = 3, #KEYS do
  local key = KEYS[i]
  local last = #key - cut
  if last < #prefix or sub(key, 1, #prefix) ~= prefix or sub(key, last + 1) ~= suffix then
    return fail('heartbeat key ' .. key .. ' does not match the template')
  end
  job_ids[i - 2] = sub(key, first, last)
end

local function key_type(key)
  return redis.call('TYPE', key)['ok']
end

local set_type = key_type(KEYS[1])
if set_type ~= 'set' and set_type ~= 'none' then
  return redis.error_reply('WRONGTYPE requeue: processing set ' .. KEYS[1] .. ' is a ' .. set_type)
end
local queue_type = key_type(KEYS[2])
if queue_type ~= 'list' and queue_type ~= 'none' then
  return redis.error_reply('WRONGTYPE requeue: target queue ' .. KEYS[2] .. ' is a ' .. queue_type)
end
if #KEYS == 2 then
  return {0, 0, 0, 0}
end

-- TIME returns strings.
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000

local MAX_LENGTH = 32
local find = string.find

-- 'f' fresh, 's' stale, 'm' missing, 'x' malformed
local function heartbeat_state(heartbeat_key, raw)
  if raw == false then
    -- MGET answers false for a key of another type too: that is not "missing".
    if redis.call('EXISTS', heartbeat_key) == 1 then
      return 'x'
    end
    return 'm'
  end
  if #raw > MAX_LENGTH
      or not (find(raw, '^%-?%d+$') or find(raw, '^%-?%d+%.%d+$')) then
    return 'x'
  end
  if now - tonumber(raw) > threshold then
    return 's'
  end
  return 'f'
end

-- One MGET rather than a GET per id: redis.call's overhead exceeds the read itself.
local heartbeats = redis.call('MGET', unpack(KEYS, 3))

local moved, renewed, gone, malformed = 0, 0, 0, 0
local moved_ids, moved_keys, malformed_ids = {}, {}, {}
for i = 1, #job_ids do
  local job_id, heartbeat_key = job_ids[i], KEYS[i + 2]
  local state = heartbeat_state(heartbeat_key, heartbeats[i])
  if state == 'f' then
    renewed = renewed + 1
  elseif state == 'x' then
    malformed = malformed + 1
    if malformed <= 10 then
      malformed_ids[malformed] = job_id
    end
  elseif redis.call('SREM', KEYS[1], job_id) == 1 then
    moved = moved + 1
    moved_ids[moved] = job_id
    moved_keys[moved] = heartbeat_key
  else
    gone = gone + 1
  end
end

-- Each id whose SREM returned 1, and only those, loses its heartbeat and is pushed.
-- One DEL and one LPUSH per chunk rather than per id halves the script's cost;
-- nobody can observe the ids in between, the script is atomic. Neither call can
-- fail here: the key types were checked above, and once a script has written
-- (the SREMs), Redis no longer refuses its writes for maxmemory.
local CHUNK = 1000  -- far below Lua's unpack() limit
for from = 1, moved, CHUNK do
  local to = math.min(from + CHUNK - 1, moved)
  redis.call('DEL', unpack(moved_keys, from, to))
  redis.call('LPUSH', KEYS[2], unpack(moved_ids, from, to))
end

local reply = {moved, renewed, gone, malformed}
for i = 1, #malformed_ids do
  reply[4 + i] = malformed_ids[i]
end
return reply
