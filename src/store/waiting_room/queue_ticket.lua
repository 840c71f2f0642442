-- queue_ticket.lua: take a ticket in a sale's waiting room, or read one, with where it stands.
--
-- A ticket has a place in the admission order: its number in arrival order (fifo; random
-- tickets taken after the start, behind the lobby), or its number in the draw (random tickets
-- taken before the start, in the lobby until queue_draw.lua gives them places). The admitters
-- (queue_admit.lua) move one counter, `admitted`, along the places: a ticket is admitted once
-- its place is at most that counter, so no ticket is ever rewritten to admit it, and a
-- position is `place - admitted`.
--
-- KEYS (all share the sale's hash tag):
--   1 sale hash         round, remaining, starts_at_ms, ends_at_ms, admission_mode,
--                       admission_rate, admission_token_seconds
--   2 tickets           hash ticket_id -> "place|user_id" (place '' in the lobby)
--   3 users             hash user_id -> ticket_id
--   4 lobby             list of the ticket ids taken before a random sale's start
--   5 state             hash issued, admitted (and the admitters' credit, last_ms, drawn)
--   6 admissions        sorted set "<admitted>:<at_ms>" scored by admitted
--   7 tokens used       set of the nonces (ticket ids) whose purchase token bought
-- ARGV: 1 'join' or 'read'; join: 2 user_id, 3 the new ticket's id; read: 2 ticket_id
--
-- Returns {outcome, ticket_id, user_id, round, place, position, admitted_at_ms,
--          expires_at_ms, used, rate}
-- outcome: sale_not_found | not_queued (the sale is open) | no_ticket (read: none this round)
--          | ended | sold_out | waiting | admitted
-- A join that finds the user's ticket answers it as it stands; a join refused (ended,
-- sold_out) creates none and answers ticket_id ''. place is -1 when unknown (in the lobby);
-- a lobby ticket's position is the lobby's size (the worst case until the draw).

local sale_key, tickets_key, users_key, lobby_key, state_key, admissions_key, used_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]

local sale = redis.call('HMGET', sale_key, 'round', 'remaining', 'starts_at_ms', 'ends_at_ms',
  'admission_mode', 'admission_token_seconds', 'admission_rate')
if not sale[1] then
  return {'sale_not_found', '', '', 0, -1, 0, 0, 0, 0, 0}
end
local round = tonumber(sale[1])
local mode = sale[5]
local rate = tonumber(sale[7] or '0')
if mode ~= 'fifo' and mode ~= 'random' then
  return {'not_queued', '', '', round, -1, 0, 0, 0, 0, rate}
end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local started = sale[3] == '' or now_ms >= tonumber(sale[3])
local ended = sale[4] ~= '' and now_ms >= tonumber(sale[4])
local sold_out = tonumber(sale[2]) == 0

local function reply(outcome, ticket, user, place, position, at, expires, used)
  return {outcome, ticket, user, round, place, position, at, expires, used, rate}
end

local ticket
if ARGV[1] == 'join' then
  local user = ARGV[2]
  ticket = redis.call('HGET', users_key, user)
  if not ticket then
    if ended then
      return reply('ended', '', user, -1, 0, 0, 0, 0)
    end
    if sold_out then
      return reply('sold_out', '', user, -1, 0, 0, 0, 0)
    end
    ticket = ARGV[3]
    local place = ''
    if mode == 'random' and not started then
      redis.call('RPUSH', lobby_key, ticket)
    else
      -- The lobby is closed from the start on, so its size no longer changes.
      local lobby = 0
      if mode == 'random' then
        lobby = redis.call('LLEN', lobby_key)
      end
      place = lobby + redis.call('HINCRBY', state_key, 'issued', 1)
    end
    redis.call('HSET', users_key, user, ticket)
    redis.call('HSET', tickets_key, ticket, place .. '|' .. user)
  end
else
  ticket = ARGV[2]
end

local record = redis.call('HGET', tickets_key, ticket)
if not record then
  return reply('no_ticket', ticket, '', -1, 0, 0, 0, 0)
end
local place, user = string.match(record, '^(%d*)|(.*)$')
if ended then
  return reply('ended', ticket, user, -1, 0, 0, 0, 0)
end
local admitted = tonumber(redis.call('HGET', state_key, 'admitted') or '0')
if place ~= '' and tonumber(place) <= admitted then
  place = tonumber(place)
  -- The first admission step that reached this place admitted it.
  local step = redis.call('ZRANGEBYSCORE', admissions_key, place, '+inf', 'LIMIT', 0, 1)[1]
  local at = tonumber(string.match(step, ':(%d+)$'))
  local used = redis.call('SISMEMBER', used_key, ticket)
  -- A token that has not bought cannot buy any more: the buyer hears it is over.
  if sold_out and used == 0 then
    return reply('sold_out', ticket, user, place, 0, 0, 0, 0)
  end
  return reply('admitted', ticket, user, place, 0, at, at + tonumber(sale[6]) * 1000, used)
end
if sold_out then
  return reply('sold_out', ticket, user, tonumber(place) or -1, 0, 0, 0, 0)
end
if place == '' then
  return reply('waiting', ticket, user, -1, redis.call('LLEN', lobby_key), 0, 0, 0)
end
place = tonumber(place)
return reply('waiting', ticket, user, place, place - admitted, 0, 0, 0)
