-- One free lease per partition of the topic ($3 partitions), unless it exists.
INSERT INTO partition_leases (group_id, topic, partition)
SELECT $1, $2, generate_series(0, $3 - 1)
ON CONFLICT (group_id, topic, partition) DO NOTHING
