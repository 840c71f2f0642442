-- waitlist_offer.lua: a library, not a script. It is put in front of every script that gives
-- units back to a sale in its current round (hold_settle.lua: a cancel or an expiry;
-- sale_stock_change.lua: units added), so those units go to the buyers waiting for them, in
-- arrival order, in the same call that frees them: a unit goes to exactly one waiting buyer or
-- back to 'remaining', never both, and never to anyone once it is in 'remaining'.
--
-- An offer is a hold like any other (hold_settle.lua ends it), of one unit, with the sale's
-- hold_seconds as its deadline, a new purchase id and a new hold_token. Its first event is
-- 'offered' (version 1). The buyer learns of it by reading the waitlist entry.
--
-- The caller passes `k`, a table of the sale's keys (all share the sale's hash tag):
--   sale       hash: round, remaining, held, per_user_limit, hold_seconds, starts_at_ms,
--              ends_at_ms; 'waiting' (entries waiting) and 'offered' (units offered this round)
--   users      hash user_id -> units bought this round (the per-user limit covers offers)
--   purchases  hash purchase_id -> "round|quantity|reserved_at_ms|remaining|user_id"
--   holds      hash purchase_id -> "state|expires_at_ms|settled_at_ms|token|payment_ref"
--   deadlines  sorted set purchase_id -> expires_at_ms
--   outbox     stream of purchase events
--   waitlist   sorted set entry_id -> arrival number, of the entries waiting this round
--   entries    hash entry_id -> "round|arrival|joined_at_ms|state|purchase_id|user_id"
-- and `seed`, a random secret of the call (32 hex digits) the new purchase ids and hold
-- tokens are derived from: Lua has no source of randomness of its own, and deriving them here
-- lets a call make as many offers as it finds buyers for.

local waitlist = {}

-- "round|arrival|joined_at_ms|state|purchase_id|user_id" (user ids never contain '|').
function waitlist.parse(record)
  local round, arrival, joined_at, state, purchase_id, user =
    string.match(record, '^(%d+)|(%d+)|(%d+)|([%a_]+)|([%x%-]*)|(.*)$')
  return {round = round, arrival = arrival, joined_at = joined_at, state = state,
    purchase_id = purchase_id, user = user}
end

function waitlist.format(entry)
  return entry.round .. '|' .. entry.arrival .. '|' .. entry.joined_at .. '|' .. entry.state
    .. '|' .. entry.purchase_id .. '|' .. entry.user
end

-- A UUIDv7 stamped `now_ms` like every other purchase id (a GET of a purchase trusts only
-- those), its random bits and a 32-hex-digit token from the call's seed and a counter.
local function derive(seed, n, now_ms)
  local h = redis.sha1hex(seed .. ':purchase:' .. n)
  local t = string.format('%012x', now_ms)
  local variant = ({'8', '9', 'a', 'b'})[tonumber(h:sub(17, 17), 16) % 4 + 1]
  local id = t:sub(1, 8) .. '-' .. t:sub(9, 12) .. '-7' .. h:sub(14, 16) .. '-' .. variant
    .. h:sub(18, 20) .. '-' .. h:sub(21, 32)
  local token = redis.sha1hex(seed .. ':token:' .. n):sub(1, 32)
  return id, token
end

-- Offers up to `units` units to the waiting buyers, first come first served, and returns how
-- many found nobody (the caller puts those back in 'remaining'). Appends the purchase id of
-- every offer made to `offered`. A buyer whose per-user limit is taken when their turn comes
-- is passed over (their entry ends as 'passed_over'). Nothing is offered while the sale is
-- outside its window or has no holds.
function waitlist.offer(k, units, seed, now_ms, offered)
  if units <= 0 or redis.call('ZCARD', k.waitlist) == 0 then
    return units
  end
  local sale = redis.call('HMGET', k.sale, 'round', 'hold_seconds', 'per_user_limit',
    'starts_at_ms', 'ends_at_ms', 'remaining')
  local round = tonumber(sale[1])
  local hold_ms = tonumber(sale[2] or '0') * 1000
  local limit = tonumber(sale[3])
  local active = (sale[4] == '' or now_ms >= tonumber(sale[4]))
    and (sale[5] == '' or now_ms < tonumber(sale[5]))
  if hold_ms == 0 or not active then
    return units
  end
  while units > 0 do
    local first = redis.call('ZRANGE', k.waitlist, 0, 0)
    if #first == 0 then
      break
    end
    local entry_id = first[1]
    redis.call('ZREM', k.waitlist, entry_id)
    redis.call('HINCRBY', k.sale, 'waiting', -1)
    local entry = waitlist.parse(redis.call('HGET', k.entries, entry_id))
    local bought = tonumber(redis.call('HGET', k.users, entry.user) or '0')
    if bought + 1 > limit then
      entry.state = 'passed_over'
    else
      local purchase_id, token = derive(seed, #offered, now_ms)
      local expires_at = now_ms + hold_ms
      redis.call('HSET', k.purchases, purchase_id,
        round .. '|1|' .. now_ms .. '|' .. sale[6] .. '|' .. entry.user)
      redis.call('HSET', k.holds, purchase_id, 'held|' .. expires_at .. '||' .. token .. '|')
      redis.call('ZADD', k.deadlines, expires_at, purchase_id)
      redis.call('HINCRBY', k.sale, 'held', 1)
      redis.call('HINCRBY', k.sale, 'offered', 1)
      redis.call('HINCRBY', k.users, entry.user, 1)
      redis.call('XADD', k.outbox, '*', 'purchase_id', purchase_id, 'round', round,
        'user_id', entry.user, 'quantity', 1, 'reserved_at_ms', now_ms,
        'kind', 'offered', 'version', 1, 'occurred_at_ms', now_ms)
      entry.state = 'offered'
      entry.purchase_id = purchase_id
      offered[#offered + 1] = purchase_id
      units = units - 1
    end
    redis.call('HSET', k.entries, entry_id, waitlist.format(entry))
  end
  return units
end

-- The script this library is put in front of follows.
