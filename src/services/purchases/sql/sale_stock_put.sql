-- A sale's new round (admin calls): full stock, settings and strategy. A row never goes back to
-- an older round, so two admin calls racing each other leave the newest.
INSERT INTO sale_stock (sale_id, strategy, round, stock, remaining, per_user_limit, starts_at, ends_at)
VALUES ($1, $2, $3, $4, $4, $5, $6, $7)
ON CONFLICT (sale_id) DO UPDATE
SET strategy = EXCLUDED.strategy, round = EXCLUDED.round, stock = EXCLUDED.stock,
    remaining = EXCLUDED.remaining, per_user_limit = EXCLUDED.per_user_limit,
    starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at
WHERE sale_stock.round < EXCLUDED.round
