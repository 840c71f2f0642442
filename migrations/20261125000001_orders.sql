-- Orders: one row per purchase that got a 202, written by the worker from the purchase events.
-- purchase_id is the dedup key: a redelivered or republished event inserts nothing.
CREATE TABLE orders (
    purchase_id   uuid        PRIMARY KEY,
    sale_id       text        NOT NULL,
    round         bigint      NOT NULL CHECK (round >= 1),
    user_id       text        NOT NULL,
    quantity      integer     NOT NULL CHECK (quantity >= 1),
    reserved_at   timestamptz NOT NULL,
    persisted_at  timestamptz NOT NULL DEFAULT now()
);

-- The audit and the per-round queries read a sale's orders of one round.
CREATE INDEX orders_sale_round ON orders (sale_id, round);

-- A mirror of the sales and rounds the worker has seen orders for.
CREATE TABLE sales (
    sale_id        text        NOT NULL,
    round          bigint      NOT NULL,
    first_order_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sale_id, round)
);
