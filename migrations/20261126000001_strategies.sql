-- The Postgres strategies (naive, locking: see src/strategies/) keep a sale's stock here, one
-- row per sale for its current round, written by the API's admin calls. It is not the `sales`
-- mirror: that one holds a row per round, written by the worker as orders arrive, and a
-- strategy needs exactly one row to read, update and lock.
CREATE TABLE sale_stock (
    sale_id         text        PRIMARY KEY,
    -- The sale's strategy as of its last admin call: a purchase routed here by a process that
    -- still believes an older strategy finds out.
    strategy        text        NOT NULL,
    round           bigint      NOT NULL CHECK (round >= 1),
    stock           bigint      NOT NULL CHECK (stock >= 0),
    -- No CHECK (remaining >= 0): the naive strategy's lost updates must be able to happen.
    remaining       bigint      NOT NULL,
    per_user_limit  bigint      NOT NULL CHECK (per_user_limit >= 1),
    starts_at       timestamptz,
    ends_at         timestamptz
);

-- Orders written by the Postgres strategies carry what their 202 said, so a replay (same
-- Idempotency-Key) and GET /api/v1/purchases/{id} answer the same body. The worker leaves both
-- NULL: for its orders, Redis holds the purchase.
ALTER TABLE orders
    ADD COLUMN idempotency_key text,
    ADD COLUMN remaining       bigint;

-- One order per (sale, round, user, key): the idempotency record of the Postgres strategies.
CREATE UNIQUE INDEX orders_idempotency ON orders (sale_id, round, user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The per-user limit of the Postgres strategies sums a user's orders in a round.
CREATE INDEX orders_sale_round_user ON orders (sale_id, round, user_id);
