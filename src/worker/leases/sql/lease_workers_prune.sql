-- Forgets the workers of the group that stopped renewing, and this one when it leaves ($3).
DELETE FROM lease_workers
WHERE group_id = $1 AND topic = $2 AND (expires_at < clock_timestamp() OR worker_id = $3)
