-- Within a batch's transaction: the partitions among $4 whose lease this worker ($3) holds and
-- has not let expire, locked until the commit so nobody takes them meanwhile.
SELECT partition FROM partition_leases
WHERE group_id = $1 AND topic = $2 AND holder = $3 AND partition = ANY($4)
  AND expires_at > clock_timestamp()
FOR UPDATE
