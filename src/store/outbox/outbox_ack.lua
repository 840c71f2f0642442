-- outbox_ack.lua: removes outbox entries whose events the broker acknowledged, from the stream
-- and from the publishers group's pending list, together (XDEL alone would leave them pending;
-- XACK alone would leave them in the stream, where the audit counts them as not yet published).
--
-- KEYS[1]  the sale's outbox stream (fs:{<sale_id>}:outbox)
-- ARGV[1]  the consumer group (publishers)
-- ARGV[2..] entry ids
-- Reply: the number of entries deleted from the stream.
local ids = {}
for i = 2, #ARGV do
  ids[#ids + 1] = ARGV[i]
end
if #ids == 0 then
  return 0
end
redis.pcall('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
