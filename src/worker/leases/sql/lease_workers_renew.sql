-- Registers this worker as live in its group (or renews it) until now + $4 ms.
INSERT INTO lease_workers (group_id, topic, worker_id, expires_at)
VALUES ($1, $2, $3, clock_timestamp() + $4 * interval '1 millisecond')
ON CONFLICT (group_id, topic, worker_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
