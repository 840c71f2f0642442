-- Persists a batch of purchase events in one statement: each event's history row (once per
-- purchase, version and state: a second state at the same version, a hold ended twice, is kept
-- so the audit sees it), a new order for a purchase not seen yet, and the purchase's state,
-- which moves only to a higher version (the check below), so a duplicate, late, reordered or
-- contradicting event never moves it back. Returns the orders that were new, the events that
-- were new, and how many of those contradict a state already recorded at their version.
WITH batch AS (
    SELECT *
    FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::integer[],
                $6::timestamptz[], $7::text[], $8::integer[], $9::timestamptz[])
        AS b (purchase_id, sale_id, round, user_id, quantity, reserved_at, state, version,
              occurred_at)
), recorded AS (
    INSERT INTO order_history (purchase_id, version, state, occurred_at)
    SELECT purchase_id, version, state, occurred_at FROM batch
    ON CONFLICT (purchase_id, version, state) DO NOTHING
    RETURNING purchase_id, version
), contradicting AS (
    -- Per purchase and version, the states recorded now beyond the first one it ever had. The
    -- statement's snapshot does not see `recorded`'s rows: order_history is what came before.
    SELECT r.purchase_id, r.version,
           count(*) - CASE WHEN EXISTS (
               SELECT 1 FROM order_history h
               WHERE h.purchase_id = r.purchase_id AND h.version = r.version
           ) THEN 0 ELSE 1 END AS extra
    FROM recorded r
    GROUP BY r.purchase_id, r.version
), latest AS (
    -- One row per purchase: an upsert may not touch a row twice in one statement.
    SELECT DISTINCT ON (purchase_id) * FROM batch ORDER BY purchase_id, version DESC
), applied AS (
    INSERT INTO orders AS o (purchase_id, sale_id, round, user_id, quantity, reserved_at, state,
                             version)
    SELECT purchase_id, sale_id, round, user_id, quantity, reserved_at, state, version
    FROM latest
    ON CONFLICT (purchase_id) DO UPDATE
        SET state = EXCLUDED.state, version = EXCLUDED.version
        WHERE o.version < EXCLUDED.version
    -- xmax is 0 on a row this statement inserted, not on one it updated.
    RETURNING sale_id, round, (xmax = 0) AS inserted
), mirrored AS (
    INSERT INTO sales (sale_id, round)
    SELECT DISTINCT sale_id, round FROM applied WHERE inserted
    ON CONFLICT (sale_id, round) DO NOTHING
)
SELECT (SELECT count(*) FROM applied WHERE inserted) AS inserted,
       (SELECT count(*) FROM recorded) AS recorded,
       (SELECT COALESCE(sum(extra), 0)::bigint FROM contradicting) AS contradicting
