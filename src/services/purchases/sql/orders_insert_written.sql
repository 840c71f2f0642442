-- The order of a naive or locking purchase, with what its 202 says (remaining, the key) so a
-- replay answers the same. Returns reserved_at, or no row when an order with the same
-- Idempotency-Key for this user, sale and round exists already.
INSERT INTO orders (purchase_id, sale_id, round, user_id, quantity, reserved_at, idempotency_key, remaining)
VALUES ($1, $2, $3, $4, $5, date_trunc('milliseconds', clock_timestamp()), $6, $7)
ON CONFLICT (sale_id, round, user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING reserved_at
