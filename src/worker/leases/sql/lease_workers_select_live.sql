-- The live workers of the group, in the order that ranks them for their shares.
SELECT worker_id FROM lease_workers
WHERE group_id = $1 AND topic = $2 AND expires_at > clock_timestamp()
ORDER BY worker_id
