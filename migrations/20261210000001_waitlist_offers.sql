-- Waitlist offers (issue 11): a unit released or added goes to a waitlisted buyer as a new hold
-- whose first event is 'offered' (version 1); it then ends like any hold ('paid', 'cancelled',
-- 'expired', version 2). Only the states allowed change: the version rules stay as they are.
ALTER TABLE orders DROP CONSTRAINT orders_state_check;
ALTER TABLE orders ADD CONSTRAINT orders_state_check
    CHECK (state IN ('reserved', 'held', 'offered', 'paid', 'cancelled', 'expired'));

ALTER TABLE order_history DROP CONSTRAINT order_history_state_check;
ALTER TABLE order_history ADD CONSTRAINT order_history_state_check
    CHECK (state IN ('reserved', 'held', 'offered', 'paid', 'cancelled', 'expired'));
