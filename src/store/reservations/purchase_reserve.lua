-- purchase_reserve.lua: reserve stock for a batch of purchases of ONE sale, atomically.
--
-- Redis runs a script alone, so the checks and the writes below cannot interleave with any
-- other purchase: this is what makes overselling impossible. The batch is processed in order,
-- so two purchases with the same idempotency key in one batch see each other.
--
-- KEYS (all share the sale's hash tag, so this runs on Redis Cluster too):
--   1 sale hash       name, stock, remaining, per_user_limit, starts_at_ms, ends_at_ms, round,
--                     strategy, durability
--   2 user counts     hash user_id -> units bought this round
--   3 idempotency     hash user_id .. "\n" .. key -> purchase_id (this round)
--   4 purchases       hash purchase_id -> "round|quantity|reserved_at_ms|remaining|user_id"
--   5 outbox          stream of purchase events, drained into Kafka by the pipeline: here each
--                     reserved purchase's first one (kind 'reserved' or 'held', version 1)
--   6 holds           hash purchase_id -> "state|expires_at_ms|settled_at_ms|token|payment_ref"
--   7 deadlines       sorted set purchase_id -> expires_at_ms of holds still held
--   8 tokens used     set of the nonces of the purchase tokens that bought this round
-- ARGV: 6 per purchase: purchase_id, user_id, quantity, idempotency_key ("" = none),
--       hold_token (kept only when the sale has hold_seconds > 0),
--       purchase token "nonce|round|expires_at_ms" ("" = none; its signature, sale and user
--       were checked by the API: here its round, expiry and single use, and only when the
--       sale's admission_mode is fifo or random)
--
-- Returns {durability, results}: the sale's durability ('fast' when it has none), which says
-- whether the API answers once this script ran or once the broker has the events too; and one
-- array per purchase, in order:
--   {outcome, purchase_id, round, quantity, remaining, reserved_at_ms, outbox_entry_id, hold}
-- (outbox_entry_id is '' unless the purchase was reserved by this call; hold is the purchase's
-- record in the holds hash, '' unless it is a hold: hold_settle.lua decides what follows)
-- outcome: reserved | replayed | key_reused | not_found | not_active | limit_reached | sold_out
--          | token_missing | token_expired | token_used (a sale with a waiting room)
--          | moved (the sale's strategy keeps its stock in Postgres: nothing is decided here)
-- For replayed, the fields are those of the original purchase (the same 202 body again).

local sale_key, users_key, idem_key, purchases_key, outbox_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local holds_key, deadlines_key, tokens_used_key = KEYS[6], KEYS[7], KEYS[8]

local results = {}
local sale = redis.call('HMGET', sale_key, 'round', 'remaining', 'per_user_limit',
  'starts_at_ms', 'ends_at_ms', 'strategy', 'hold_seconds', 'durability', 'admission_mode')
local durability = sale[8] or 'fast'
local refusal
if not sale[1] then
  refusal = 'not_found'
elseif sale[6] == 'naive' or sale[6] == 'locking' then
  -- An API process that still believes the sale's old strategy must not sell from a stock
  -- that is no longer the one being sold: it is told, and asks again.
  refusal = 'moved'
end
if refusal then
  for i = 1, #ARGV, 6 do
    results[#results + 1] = {refusal, ARGV[i], 0, tonumber(ARGV[i + 2]), 0, 0, '', ''}
  end
  return {durability, results}
end

local round = tonumber(sale[1])
local remaining = tonumber(sale[2])
local limit = tonumber(sale[3])
local hold_ms = tonumber(sale[7] or '0') * 1000
-- The server's clock, so every API process judges the window by the same time.
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local active = (sale[4] == '' or now_ms >= tonumber(sale[4]))
  and (sale[5] == '' or now_ms < tonumber(sale[5]))
-- Open sales (the field absent on sales made before admission) never look at a token.
local gated = sale[9] == 'fifo' or sale[9] == 'random'

local function reserve(purchase_id, user_id, quantity, key, token, pass)
  -- The idempotency record is checked first: a retry of a purchase that went through gets the
  -- same answer even after the window closed or the stock ran out.
  local idem_field
  if key ~= '' then
    idem_field = user_id .. '\n' .. key
    local original_id = redis.call('HGET', idem_key, idem_field)
    if original_id then
      local record = redis.call('HGET', purchases_key, original_id)
      local r, q, at, left = string.match(record, '^(%d+)|(%d+)|(%d+)|(%d+)|')
      if tonumber(q) ~= quantity then
        return {'key_reused', original_id, tonumber(r), tonumber(q), tonumber(left), tonumber(at), '',
          ''}
      end
      return {'replayed', original_id, tonumber(r), tonumber(q), tonumber(left), tonumber(at), '',
        redis.call('HGET', holds_key, original_id) or ''}
    end
  end
  if not active then
    return {'not_active', purchase_id, round, quantity, remaining, 0, '', ''}
  end
  local nonce
  if gated then
    if pass == '' then
      return {'token_missing', purchase_id, round, quantity, remaining, 0, '', ''}
    end
    local pass_round, expires_at
    nonce, pass_round, expires_at = string.match(pass, '^([^|]+)|(%d+)|(%d+)$')
    if not nonce or tonumber(pass_round) ~= round or now_ms >= tonumber(expires_at) then
      return {'token_expired', purchase_id, round, quantity, remaining, 0, '', ''}
    end
    if redis.call('SISMEMBER', tokens_used_key, nonce) == 1 then
      return {'token_used', purchase_id, round, quantity, remaining, 0, '', ''}
    end
  end
  local bought = tonumber(redis.call('HGET', users_key, user_id) or '0')
  if bought + quantity > limit then
    return {'limit_reached', purchase_id, round, quantity, remaining, 0, '', ''}
  end
  if quantity > remaining then
    return {'sold_out', purchase_id, round, quantity, remaining, 0, '', ''}
  end

  remaining = remaining - quantity
  redis.call('HSET', sale_key, 'remaining', remaining)
  if nonce then
    -- Spent with the stock it bought, in this one script: a token buys once.
    redis.call('SADD', tokens_used_key, nonce)
  end
  redis.call('HINCRBY', users_key, user_id, quantity)
  if idem_field then
    redis.call('HSET', idem_key, idem_field, purchase_id)
  end
  redis.call('HSET', purchases_key, purchase_id,
    round .. '|' .. quantity .. '|' .. now_ms .. '|' .. remaining .. '|' .. user_id)
  local hold = ''
  local kind = 'reserved'
  if hold_ms > 0 then
    local expires_at = now_ms + hold_ms
    hold = 'held|' .. expires_at .. '||' .. token .. '|'
    kind = 'held'
    redis.call('HSET', holds_key, purchase_id, hold)
    redis.call('ZADD', deadlines_key, expires_at, purchase_id)
    redis.call('HINCRBY', sale_key, 'held', quantity)
  end
  -- The purchase's first event (version 1); hold_settle.lua appends the one that ends a hold.
  local entry_id = redis.call('XADD', outbox_key, '*', 'purchase_id', purchase_id,
    'round', round, 'user_id', user_id, 'quantity', quantity, 'reserved_at_ms', now_ms,
    'kind', kind, 'version', 1, 'occurred_at_ms', now_ms)
  return {'reserved', purchase_id, round, quantity, remaining, now_ms, entry_id, hold}
end

for i = 1, #ARGV, 6 do
  results[#results + 1] = reserve(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3],
    ARGV[i + 4], ARGV[i + 5])
end
return {durability, results}
