-- Within a batch's transaction: the next offset of each partition $3[i] becomes $4[i]; never
-- backwards (a message read again after a reassignment is older than what was committed).
UPDATE partition_leases AS lease
SET next_offset = GREATEST(COALESCE(lease.next_offset, 0), batch.next_offset)
FROM UNNEST($3::integer[], $4::bigint[]) AS batch(partition, next_offset)
WHERE lease.group_id = $1 AND lease.topic = $2 AND lease.partition = batch.partition
