-- Partition leases: which worker persists which partition of the purchase topic, and the offset
-- it resumes from. The worker does not use Kafka consumer groups (see docs/DELIVERY.md): it
-- assigns itself the partitions it holds a lease on, and commits the next offset here in the
-- same transaction as the orders, after checking in that transaction that it still holds the
-- lease. A holder that stops renewing loses the lease once `expires_at` passes.
CREATE TABLE partition_leases (
    group_id     text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL CHECK (partition >= 0),
    -- The worker process holding the lease (random per process); NULL: free.
    holder       uuid,
    expires_at   timestamptz NOT NULL DEFAULT '-infinity',
    -- The first offset not persisted yet; NULL: nothing persisted, start from the earliest.
    next_offset  bigint      CHECK (next_offset >= 0),
    PRIMARY KEY (group_id, topic, partition)
);

-- The live workers of each group, each renewing its row with its leases: how many there are
-- sets each one's fair share of the partitions.
CREATE TABLE lease_workers (
    group_id     text        NOT NULL,
    topic        text        NOT NULL,
    worker_id    uuid        NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (group_id, topic, worker_id)
);
