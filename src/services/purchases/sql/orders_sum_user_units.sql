-- The units a user bought in a round (the per-user limit; a check-then-act without the lock).
SELECT COALESCE(sum(quantity), 0)::bigint FROM orders
WHERE sale_id = $1 AND round = $2 AND user_id = $3
