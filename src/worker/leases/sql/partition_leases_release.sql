-- Frees the leases of this worker ($3) on the partitions $4 (all of them when $4 is NULL).
UPDATE partition_leases SET holder = NULL, expires_at = '-infinity'
WHERE group_id = $1 AND topic = $2 AND holder = $3 AND ($4::integer[] IS NULL OR partition = ANY($4))
