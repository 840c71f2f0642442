-- Every order of a sale's round, with its current state, for the audit.
SELECT purchase_id, user_id, quantity, state FROM orders WHERE sale_id = $1 AND round = $2
