-- queue_draw.lua: give the lobby of a random sale's waiting room its places, once.
--
-- The order is drawn by the API process that runs this (a shuffle with a secure random
-- generator, api/admitter.rs via queue.rs); the script only checks that it is the lobby,
-- exactly, and that no draw happened yet, so two processes drawing at once give one result.
--
-- KEYS (the sale's hash tag): 1 lobby, 2 state, 3 tickets (see queue_ticket.lua)
-- ARGV: the lobby's ticket ids in the drawn order (place 1 first)
-- Returns 'drawn', 'done' (drawn before) or 'stale' (ARGV is not the lobby: read it again)

local lobby_key, state_key, tickets_key = KEYS[1], KEYS[2], KEYS[3]

if redis.call('HGET', state_key, 'drawn') == '1' then
  return 'done'
end
local lobby = redis.call('LRANGE', lobby_key, 0, -1)
if #lobby ~= #ARGV then
  return 'stale'
end
local entrants = {}
for _, ticket in ipairs(lobby) do
  entrants[ticket] = true
end
for _, ticket in ipairs(ARGV) do
  if not entrants[ticket] then
    return 'stale'
  end
  entrants[ticket] = nil
end
for place, ticket in ipairs(ARGV) do
  -- A lobby record is "|user_id": its place goes in front.
  redis.call('HSET', tickets_key, ticket, place .. redis.call('HGET', tickets_key, ticket))
end
redis.call('HSET', state_key, 'drawn', '1')
return 'drawn'
