-- The order an earlier purchase with the same Idempotency-Key wrote in this round (naive and
-- locking strategies).
SELECT purchase_id, sale_id, round, user_id, quantity, remaining, reserved_at FROM orders
WHERE sale_id = $1 AND round = $2 AND user_id = $3 AND idempotency_key = $4
