-- Every ending a hold is given is kept (issue 21): a hold ends once, as version 2, so a second
-- event at the same version with another state (Redis emitting both `paid` and `expired` for
-- one hold) is a fault the audit must see, not a duplicate to drop. A history row is now once
-- per purchase, version and state: the same event again is still a duplicate (it conflicts),
-- a contradicting one is a row of its own. `orders` keeps the first state of a version.
ALTER TABLE order_history DROP CONSTRAINT order_history_pkey;
ALTER TABLE order_history ADD PRIMARY KEY (purchase_id, version, state);
