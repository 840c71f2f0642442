-- Takes up to $5 free or expired leases for this worker ($3) until now + $4 ms. A lease whose
-- row a holder's batch transaction has locked is skipped, and taken at a later renewal once
-- that transaction ended, so the offset read is that of the last batch committed.
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
