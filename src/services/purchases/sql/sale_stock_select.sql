-- A sale's stock row as a naive or locking purchase reads it; the window is judged by the
-- Postgres clock. The locking strategy reads it with sale_stock_select_for_update.sql.
SELECT strategy, round, remaining, per_user_limit,
       (starts_at IS NULL OR now() >= starts_at) AND (ends_at IS NULL OR now() < ends_at) AS active
FROM sale_stock
WHERE sale_id = $1
