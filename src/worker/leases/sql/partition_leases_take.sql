-- Takes up to $5 free or expired leases for this worker ($3) until now + $4 ms. The row lock
-- waits for a holder's batch transaction in progress, whose offsets are then what we read.
UPDATE partition_leases SET holder = $3, expires_at = clock_timestamp() + $4 * interval '1 millisecond'
WHERE (group_id, topic, partition) IN (
    SELECT group_id, topic, partition FROM partition_leases
    WHERE group_id = $1 AND topic = $2
      AND (holder IS NULL OR expires_at < clock_timestamp())
    ORDER BY partition
    LIMIT $5
    FOR UPDATE SKIP LOCKED
)
AND (holder IS NULL OR expires_at < clock_timestamp())
RETURNING partition, next_offset
