-- Checkout holds (issue 11): an order keeps its purchase's current state, and every event of a
-- purchase is kept in its history. Events of one purchase carry a version (1 when it was made,
-- 2 when a hold ended): the state moves only to a higher version, so a duplicate, late or
-- reordered event never moves it back, and a history row is written once per version.

-- The purchase's current state: 'reserved' (a purchase of a sale without holds, and every order
-- written before this migration or by the naive and locking strategies), 'held', then one of
-- 'paid', 'cancelled', 'expired'; and the version of the event that set it.
ALTER TABLE orders
    ADD COLUMN state   text    NOT NULL DEFAULT 'reserved'
        CHECK (state IN ('reserved', 'held', 'paid', 'cancelled', 'expired')),
    ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);

-- Insert-only: one row per event of a purchase, whatever order they arrived in.
CREATE TABLE order_history (
    purchase_id  uuid        NOT NULL,
    version      integer     NOT NULL CHECK (version >= 1),
    state        text        NOT NULL
        CHECK (state IN ('reserved', 'held', 'paid', 'cancelled', 'expired')),
    -- When it happened, by the Redis clock of the API that decided it.
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (purchase_id, version)
);
