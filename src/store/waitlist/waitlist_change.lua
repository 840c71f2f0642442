-- waitlist_change.lua: a buyer joins a sale's waitlist, or leaves it (waitlist_offer.lua, put in
-- front of this script, makes the offers and reads and writes the entries).
--
-- Joining is for a sale that is sold out in its current round: it must have holds (offers are
-- holds), be inside its window, have no unit left in 'remaining', and the buyer must have room
-- under the per-user limit. A buyer has at most one entry per round that is waiting or was
-- offered a unit; one who left, or was passed over, may join again (at the back). Leaving is
-- for an entry still waiting; one that was offered a unit ends through its hold instead.
--
-- KEYS (all share the sale's hash tag):
--   1 sale hash      round, remaining, per_user_limit, hold_seconds, starts_at_ms, ends_at_ms,
--                    strategy; 'waiting' (entries waiting), 'waitlist_arrivals' (a counter)
--   2 user counts    hash user_id -> units bought this round
--   3 waitlist       sorted set entry_id -> arrival number, of the entries waiting this round
--   4 entries        hash entry_id -> "round|arrival|joined_at_ms|state|purchase_id|user_id"
--   5 waitlisted     hash user_id -> entry_id, of this round
-- ARGV: 1 action 'join' | 'leave'
--   join:  2 the new entry's id (a UUID), 3 user_id
--   leave: 2 entry_id
-- Returns {outcome, entry record ('' when none), position (1 = next, 0 when not waiting),
--          round of the sale}
--   join:  joined | not_found | no_holds (the sale has none, or sells from Postgres)
--          | not_active | not_sold_out | limit_reached | already_waitlisted
--   leave: left (now, or before) | not_found (no such entry in this sale) | not_waiting (the
--          entry was offered a unit, passed over, or belongs to an earlier round)

local sale_key, users_key, waitlist_key, entries_key, waitlisted_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local action = ARGV[1]
local sale = redis.call('HMGET', sale_key, 'round', 'remaining', 'per_user_limit',
  'hold_seconds', 'starts_at_ms', 'ends_at_ms', 'strategy')
local round = tonumber(sale[1] or '0')

local function position(entry_id)
  local rank = redis.call('ZRANK', waitlist_key, entry_id)
  if rank then
    return rank + 1
  end
  return 0
end

if action == 'leave' then
  local entry_id = ARGV[2]
  local record = redis.call('HGET', entries_key, entry_id)
  if not record then
    return {'not_found', '', 0, round}
  end
  local entry = waitlist.parse(record)
  if entry.state == 'left' then
    return {'left', record, 0, round}
  end
  if entry.state ~= 'waiting' or tonumber(entry.round) ~= round then
    return {'not_waiting', record, position(entry_id), round}
  end
  redis.call('ZREM', waitlist_key, entry_id)
  redis.call('HINCRBY', sale_key, 'waiting', -1)
  redis.call('HDEL', waitlisted_key, entry.user)
  entry.state = 'left'
  record = waitlist.format(entry)
  redis.call('HSET', entries_key, entry_id, record)
  return {'left', record, 0, round}
end

local entry_id, user = ARGV[2], ARGV[3]
if not sale[1] then
  return {'not_found', '', 0, 0}
end
if tonumber(sale[4] or '0') == 0 or sale[7] == 'naive' or sale[7] == 'locking' then
  return {'no_holds', '', 0, round}
end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if (sale[5] ~= '' and now_ms < tonumber(sale[5])) or (sale[6] ~= '' and now_ms >= tonumber(sale[6])) then
  return {'not_active', '', 0, round}
end
local existing = redis.call('HGET', waitlisted_key, user)
if existing then
  local record = redis.call('HGET', entries_key, existing)
  local state = record and waitlist.parse(record).state
  if state == 'waiting' or state == 'offered' then
    return {'already_waitlisted', '', 0, round}
  end
end
if tonumber(sale[2]) > 0 then
  return {'not_sold_out', '', 0, round}
end
local bought = tonumber(redis.call('HGET', users_key, user) or '0')
if bought + 1 > tonumber(sale[3]) then
  return {'limit_reached', '', 0, round}
end
local arrival = redis.call('HINCRBY', sale_key, 'waitlist_arrivals', 1)
local entry = {round = round, arrival = arrival, joined_at = now_ms, state = 'waiting',
  purchase_id = '', user = user}
local record = waitlist.format(entry)
redis.call('HSET', entries_key, entry_id, record)
redis.call('ZADD', waitlist_key, arrival, entry_id)
redis.call('HSET', waitlisted_key, user, entry_id)
redis.call('HINCRBY', sale_key, 'waiting', 1)
return {'joined', record, position(entry_id), round}
