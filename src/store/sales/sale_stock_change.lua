-- sale_stock_change.lua: adds units to a sale's current round, or removes some, without a reset
-- (waitlist_offer.lua is put in front of this script).
--
-- Redis runs a script alone, so a change cannot interleave with a purchase, a payment or the
-- reaper: 'remaining' is read and written in the same call. Units added go to the buyers on
-- the waitlist first, in arrival order (each as an offer, a hold of its own), and what nobody
-- waits for goes to 'remaining'. Units removed come only out of 'remaining': a removal never
-- takes the stock below what is held, paid (or sold for good, on a sale without holds).
-- The round's stock in the round history moves with the sale's, so the audit checks the round
-- against the stock it ended up with.
--
-- KEYS (all share the sale's hash tag; same layouts as hold_settle.lua):
--   1 sale hash, 2 user counts, 3 purchases, 4 holds, 5 deadlines, 6 outbox, 7 waitlist,
--   8 waitlist entries, 9 round history (hash round -> stock)
-- ARGV: 1 'add' | 'remove', 2 units (>= 1), 3 a random seed (32 hex digits) for the offers,
--       4 the largest stock a sale may have
-- Returns {outcome, stock, remaining, held, paid, offered}, the figures as they are after the
-- call and `offered` the purchase ids of the offers it made;
-- outcome: changed | not_found | moved (the sale's stock lives in Postgres: naive, locking)
--          | too_much (the stock would pass the largest) | below_taken (fewer units than asked
--          are left in 'remaining': nothing changed)

local sale_key, users_key, purchases_key, holds_key, deadlines_key, outbox_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local rounds_key = KEYS[9]
local offer_keys = {sale = sale_key, users = users_key, purchases = purchases_key,
  holds = holds_key, deadlines = deadlines_key, outbox = outbox_key, waitlist = KEYS[7],
  entries = KEYS[8]}
local action, units, seed, max_stock = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local offered = {}

local function figures(outcome)
  local sale = redis.call('HMGET', sale_key, 'stock', 'remaining', 'held', 'paid')
  return {outcome, tonumber(sale[1] or '0'), tonumber(sale[2] or '0'), tonumber(sale[3] or '0'),
    tonumber(sale[4] or '0'), offered}
end

local sale = redis.call('HMGET', sale_key, 'round', 'stock', 'remaining', 'strategy')
if not sale[1] then
  return figures('not_found')
end
if sale[4] == 'naive' or sale[4] == 'locking' then
  return figures('moved')
end
local round, stock, remaining = sale[1], tonumber(sale[2]), tonumber(sale[3])

if action == 'add' then
  if stock + units > max_stock then
    return figures('too_much')
  end
  redis.call('HINCRBY', sale_key, 'stock', units)
  redis.call('HINCRBY', rounds_key, round, units)
  local time = redis.call('TIME')
  local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  -- The waiting buyers first; what nobody takes goes on sale.
  local left = waitlist.offer(offer_keys, units, seed, now_ms, offered)
  redis.call('HINCRBY', sale_key, 'remaining', left)
  return figures('changed')
end

if units > remaining then
  return figures('below_taken')
end
redis.call('HINCRBY', sale_key, 'stock', -units)
redis.call('HINCRBY', sale_key, 'remaining', -units)
redis.call('HINCRBY', rounds_key, round, -units)
return figures('changed')
