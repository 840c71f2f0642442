-- The locking strategy's read of the stock row: the same as sale_stock_select.sql, holding the
-- row's lock until the transaction ends, so buyers of one sale take turns.
SELECT strategy, round, remaining, per_user_limit,
       (starts_at IS NULL OR now() >= starts_at) AND (ends_at IS NULL OR now() < ends_at) AS active
FROM sale_stock
WHERE sale_id = $1
FOR UPDATE
