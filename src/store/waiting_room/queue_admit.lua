-- queue_admit.lua: admit the next buyers of a sale's waiting room, within its rate.
--
-- Every API process runs this for every sale with a waiting room, every few tens of
-- milliseconds (api/admitter.rs). The budget is shared through the state hash: each call adds
-- rate_per_second * (now - last_ms) to `credit` (at most one second's worth, so a pause of
-- every admitter does not end in a burst), admits floor(credit) tickets by moving `admitted`
-- along the places, and keeps the fraction. However many processes call it, the sum admitted
-- follows the rate of the Redis clock. Nothing is admitted before the start, after the end, or
-- once the stock is gone (and the credit is dropped then, as it is while nobody waits).
--
-- KEYS (the sale's hash tag): 1 sale hash, 2 lobby, 3 state, 4 admissions (see
--   queue_ticket.lua)
-- ARGV: none
-- Returns {outcome, admitted by this call, still waiting, idle_ms}; outcome:
--   gone (no sale, no waiting room, or ended: nothing will be admitted again this round)
--   | closed (not started, or sold out) | draw (a random sale started and its lobby awaits the
--   draw: queue_draw.lua first) | admitting
-- idle_ms: how long nothing can happen unless something else changes (0: step again soon): the
-- time until the start, or 1000 while sold out or while nobody waits.

local sale_key, lobby_key, state_key, admissions_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local sale = redis.call('HMGET', sale_key, 'round', 'remaining', 'starts_at_ms', 'ends_at_ms',
  'admission_mode', 'admission_rate')
local mode = sale[5]
if not sale[1] or (mode ~= 'fifo' and mode ~= 'random') then
  return {'gone', 0, 0, 0}
end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if sale[4] ~= '' and now_ms >= tonumber(sale[4]) then
  return {'gone', 0, 0, 0}
end
local state = redis.call('HMGET', state_key, 'issued', 'admitted', 'credit', 'last_ms', 'drawn')
local lobby = 0
if mode == 'random' then
  lobby = redis.call('LLEN', lobby_key)
end
local admitted = tonumber(state[2] or '0')
local waiting = lobby + tonumber(state[1] or '0') - admitted

local function idle(outcome, idle_ms)
  redis.call('HSET', state_key, 'credit', 0, 'last_ms', now_ms)
  return {outcome, 0, waiting, idle_ms}
end
if sale[3] ~= '' and now_ms < tonumber(sale[3]) then
  return idle('closed', tonumber(sale[3]) - now_ms)
end
if tonumber(sale[2]) == 0 then
  return idle('closed', 1000)
end
if mode == 'random' and lobby > 0 and state[5] ~= '1' then
  return {'draw', 0, waiting, 0}
end
if waiting <= 0 then
  return idle('admitting', 1000)
end

local rate = tonumber(sale[6])
local last_ms = tonumber(state[4] or now_ms)
local credit = tonumber(state[3] or '0') + rate * math.max(now_ms - last_ms, 0) / 1000
if credit > rate then
  credit = rate
end
local admit = math.min(math.floor(credit), waiting)
if admit > 0 then
  admitted = admitted + admit
  credit = credit - admit
  redis.call('HSET', state_key, 'admitted', admitted)
  redis.call('ZADD', admissions_key, admitted, admitted .. ':' .. now_ms)
end
redis.call('HSET', state_key, 'credit', string.format('%.6f', credit), 'last_ms', now_ms)
return {'admitting', admit, waiting - admit, 0}
