-- hold_settle.lua: ends holds of ONE sale, atomically: a payment, a cancel, or the reaper's
-- expiry of the holds whose deadline passed.
--
-- A hold leaves 'held' exactly once, in one of 'paid', 'cancelled', 'expired', which are final.
-- Redis runs a script alone, so a payment and the reaper (of any number of API processes)
-- cannot both end the same hold: whichever runs first decides, and the other finds it final.
-- The deadline is judged by the Redis clock in every case: a payment at or after the deadline
-- expires the hold instead, even before a reaper got to it, so the unit is never both paid and
-- given back. Released units (cancelled, expired) give the buyer's per-user limit back and go
-- to the buyers on the sale's waitlist (waitlist_offer.lua, put in front of this script), or
-- back to 'remaining' when nobody waits, in the same call that ends the hold, so exactly once.
--
-- A hold of an earlier round (the sale was reset or replaced since) cannot be paid: it
-- expires without touching the stock, which the new round restored already.
--
-- KEYS (all share the sale's hash tag; same layout as purchase_reserve.lua):
--   1 sale hash   round, remaining, held (units held this round), paid (units paid this round)
--   2 user counts hash user_id -> units bought this round
--   3 purchases   hash purchase_id -> "round|quantity|reserved_at_ms|remaining|user_id"
--   4 holds       hash purchase_id -> "state|expires_at_ms|settled_at_ms|token|payment_ref"
--   5 deadlines   sorted set purchase_id -> expires_at_ms, of holds still 'held'
--   6 outbox      stream of purchase events: every hold this call ends gets its event (kind
--                 paid | cancelled | expired, version 2), in this call, so exactly once; every
--                 offer it makes its 'offered' (version 1)
--   7 waitlist    sorted set entry_id -> arrival number, of the entries waiting this round
--   8 entries     hash entry_id -> "round|arrival|joined_at_ms|state|purchase_id|user_id"
-- ARGV: 1 action: 'pay' | 'cancel' | 'reap'; 2 a random seed (32 hex digits) for the offers
--   pay:    3 purchase_id, 4 payment_ref
--   cancel: 3 purchase_id, 4 the buyer's hold_token, 5 'admin' when the admin asks (no token)
--   reap:   3 the most holds to look at in this call
-- Returns, with `offered` the purchase ids of the offers this call made to waiting buyers:
--   pay, cancel: {result, hold record as stored after the call ('' when there is none), offered,
--     ended: 1 when this call ended the hold (in the state asked for, or expired), else 0}
--     result: settled (in the state asked for: now, or already with the same payment_ref)
--           | refused (ended another way, or expired by this call: its deadline had passed)
--           | paid_elsewhere (paid with another payment_ref) | wrong_token | not_a_hold
--   reap: {more, lags_ms, offered, held, waiting}: more is 1 when the batch was full (call
--     again); lags_ms, for each hold this call expired, how long after its deadline; held and
--     waiting, the sale's units held and buyers waiting after the call (for the metrics)

local sale_key, users_key, purchases_key, holds_key, deadlines_key, outbox_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local offer_keys = {sale = sale_key, users = users_key, purchases = purchases_key,
  holds = holds_key, deadlines = deadlines_key, outbox = outbox_key, waitlist = KEYS[7],
  entries = KEYS[8]}
local action, seed = ARGV[1], ARGV[2]
local offered = {}
local ended = 0
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local round = tonumber(redis.call('HGET', sale_key, 'round') or '0')

local function parse(record)
  local state, expires_at, settled_at, token, payment_ref =
    string.match(record, '^(%a+)|(%d+)|(%d*)|(%x*)|(.*)$')
  return {state = state, expires_at = tonumber(expires_at), settled_at = settled_at,
    token = token, payment_ref = payment_ref}
end

local function save(purchase_id, hold)
  local record = hold.state .. '|' .. hold.expires_at .. '|' .. hold.settled_at .. '|'
    .. hold.token .. '|' .. hold.payment_ref
  redis.call('HSET', holds_key, purchase_id, record)
  return record
end

-- The round, quantity, buyer and reservation time of a purchase.
local function purchase_of(purchase_id)
  local r, q, at, user = string.match(redis.call('HGET', purchases_key, purchase_id),
    '^(%d+)|(%d+)|(%d+)|%d+|(.*)$')
  return tonumber(r), tonumber(q), user, at
end

-- Ends a hold that is 'held' as `state`. Only a 'held' hold comes here, and it leaves 'held'
-- here: the counters move once per hold.
local function finish(purchase_id, hold, state)
  local r, quantity, user, reserved_at = purchase_of(purchase_id)
  if r == round then
    redis.call('HINCRBY', sale_key, 'held', -quantity)
    if state == 'paid' then
      redis.call('HINCRBY', sale_key, 'paid', quantity)
    else
      if redis.call('HINCRBY', users_key, user, -quantity) <= 0 then
        redis.call('HDEL', users_key, user)
      end
      -- The waiting buyers first; what nobody takes goes back on sale.
      local left = waitlist.offer(offer_keys, quantity, seed, now_ms, offered)
      redis.call('HINCRBY', sale_key, 'remaining', left)
    end
  end
  redis.call('ZREM', deadlines_key, purchase_id)
  -- The transition's event, version 2: the hold's second and last (version 1 made it).
  redis.call('XADD', outbox_key, '*', 'purchase_id', purchase_id, 'round', r,
    'user_id', user, 'quantity', quantity, 'reserved_at_ms', reserved_at,
    'kind', state, 'version', 2, 'occurred_at_ms', now_ms)
  hold.state = state
  hold.settled_at = now_ms
  ended = 1
  return save(purchase_id, hold)
end

if action == 'reap' then
  local count = tonumber(ARGV[3])
  local due = redis.call('ZRANGEBYSCORE', deadlines_key, '-inf', now_ms, 'LIMIT', 0, count)
  local more = 0
  if #due == count then
    more = 1
  end
  local lags = {}
  for _, purchase_id in ipairs(due) do
    local record = redis.call('HGET', holds_key, purchase_id)
    local hold = record and parse(record)
    if hold and hold.state == 'held' then
      finish(purchase_id, hold, 'expired')
      lags[#lags + 1] = now_ms - hold.expires_at
    else
      redis.call('ZREM', deadlines_key, purchase_id)
    end
  end
  local figures = redis.call('HMGET', sale_key, 'held', 'waiting')
  return {more, lags, offered, tonumber(figures[1] or '0'), tonumber(figures[2] or '0')}
end

local purchase_id, argument = ARGV[3], ARGV[4]
local record = redis.call('HGET', holds_key, purchase_id)
if not record then
  return {'not_a_hold', '', offered, ended}
end
local hold = parse(record)
-- Comparing digests rather than the tokens, so the time the comparison takes says nothing
-- about how much of a guessed token was right.
if action == 'cancel' and ARGV[5] ~= 'admin'
  and redis.sha1hex(argument) ~= redis.sha1hex(hold.token) then
  return {'wrong_token', '', offered, ended}
end
if hold.state == 'held' then
  -- Each ends the hold first, so the reply carries what it did.
  if now_ms >= hold.expires_at or purchase_of(purchase_id) ~= round then
    record = finish(purchase_id, hold, 'expired')
    return {'refused', record, offered, ended}
  end
  if action == 'pay' then
    hold.payment_ref = argument
    record = finish(purchase_id, hold, 'paid')
  else
    record = finish(purchase_id, hold, 'cancelled')
  end
  return {'settled', record, offered, ended}
end
if action == 'pay' and hold.state == 'paid' then
  if hold.payment_ref == argument then
    return {'settled', record, offered, ended}
  end
  return {'paid_elsewhere', record, offered, ended}
end
if action == 'cancel' and hold.state == 'cancelled' then
  return {'settled', record, offered, ended}
end
return {'refused', record, offered, ended}
