-- sale_start_round.lua: create, replace or reset a sale; each of these starts a new round.
--
-- A round is the unit everything downstream groups purchases by. Starting one puts the stock
-- back, forgets every per-user count and idempotency record of the last round (UNLINK frees
-- them off the main thread), and announces the new round on a pub/sub channel so every API
-- process clears its local sold-out flag. Doing all of it in one script means no purchase can
-- land between "stock restored" and "counts cleared".
--
-- KEYS: 1 sale hash, 2 user counts, 3 idempotency records (same layout as purchase_reserve.lua),
--       4 round history: hash round -> stock and "<round>:strategy" -> strategy, what the audit
--         checks a past round against
--       5.. the round's keys that end with it: the waitlist and its users (waitlist.rs; its
--         entries stay readable, and read as ended), and the admission keys (queue.rs): tokens
--         used, the waiting room's tickets, users, lobby, counters and admission steps
-- ARGV: 1 mode: 'put' (create or replace), 'create' (only if absent), 'reset' (only if present)
--       2 pub/sub channel for round announcements
--       3 the sale id, for the announcement
--       4 the floor: the last round PostgreSQL remembers of the sale (0: none), read by the
--         caller when the sale hash is missing. The new round is above it and above the
--         hash's, so a sale Redis lost does not start again at round 1 over rounds sold
--       5.. field/value pairs to store in the sale hash (put, create: all of them;
--           reset: optionally 'stock')
-- Returns {outcome, round}; outcome: created | replaced | reset | exists | not_found

local sale_key, users_key, idem_key, rounds_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local mode, channel, sale_id, floor = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local exists = redis.call('EXISTS', sale_key) == 1
if mode == 'create' and exists then
  return {'exists', tonumber(redis.call('HGET', sale_key, 'round'))}
end
if mode == 'reset' and not exists then
  return {'not_found', 0}
end

for i = 5, #ARGV, 2 do
  redis.call('HSET', sale_key, ARGV[i], ARGV[i + 1])
end
local round = math.max(tonumber(redis.call('HGET', sale_key, 'round') or '0'), floor) + 1
redis.call('HSET', sale_key, 'round', round)
local stock = redis.call('HGET', sale_key, 'stock')
redis.call('HSET', sale_key, 'remaining', stock)
-- The last round's holds (hold_settle.lua) and waitlist (waitlist_change.lua).
redis.call('HDEL', sale_key, 'held', 'paid', 'waiting', 'offered')
redis.call('HSET', rounds_key, round, stock,
  round .. ':strategy', redis.call('HGET', sale_key, 'strategy') or 'async')
redis.call('UNLINK', users_key, idem_key, unpack(KEYS, 5))
redis.call('PUBLISH', channel, round .. ' ' .. sale_id)

local outcome = 'created'
if mode == 'reset' then
  outcome = 'reset'
elseif exists then
  outcome = 'replaced'
end
return {outcome, round}
