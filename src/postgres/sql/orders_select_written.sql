-- An order written by the naive or locking strategy (only those carry `remaining`: Redis holds
-- every other purchase), as the purchase its 202 described.
SELECT purchase_id, sale_id, round, user_id, quantity, remaining, reserved_at FROM orders
WHERE purchase_id = $1 AND remaining IS NOT NULL
