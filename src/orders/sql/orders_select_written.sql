-- An order written by the naive or locking strategy, as the purchase its 202 described; the
-- caller appends the WHERE clause.
SELECT purchase_id, sale_id, round, user_id, quantity, remaining, reserved_at FROM orders
