-- Renews every lease this worker ($3) holds until now + $4 ms, even one that expired: nobody
-- took it (taking changes the holder), so nobody wrote on it since.
UPDATE partition_leases SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
WHERE group_id = $1 AND topic = $2 AND holder = $3
RETURNING partition, next_offset
