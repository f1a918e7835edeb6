-- One SSCAN step over a set, answered as two bulk strings. Read-only.
--
-- KEYS[1]  the set
-- ARGV[1]  cursor
-- ARGV[2]  COUNT (a hint: Redis may return several times as many)
--
-- Returns {next cursor, lengths, ids}: ``lengths`` is the byte length of every id,
-- comma-separated, and ``ids`` is all ids concatenated in the same order.
--
-- Why a script for a read: redis-py's pure-Python parser spends ~7 us per reply
-- element, more than Redis spends moving the id. Three elements per step instead
-- of one per id makes a million-id requeue several times faster, and the server
-- work per call stays bounded by COUNT, like a plain SSCAN.

local reply = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local ids = reply[2]
local lengths = {}
for i = 1, #ids do
  lengths[i] = #ids[i]
end
return {reply[1], table.concat(lengths, ','), table.concat(ids)}
