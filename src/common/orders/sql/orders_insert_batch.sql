-- Persists a batch of purchase events in one statement. Events already persisted (same
-- purchase_id) are skipped, so redelivery is harmless. Returns how many rows were new.
WITH inserted AS (
    INSERT INTO orders (purchase_id, sale_id, round, user_id, quantity, reserved_at)
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::integer[], $6::timestamptz[])
    ON CONFLICT (purchase_id) DO NOTHING
    RETURNING sale_id, round
), mirrored AS (
    INSERT INTO sales (sale_id, round)
    SELECT DISTINCT sale_id, round FROM inserted
    ON CONFLICT (sale_id, round) DO NOTHING
)
SELECT count(*) AS inserted FROM inserted
