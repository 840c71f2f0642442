-- Every order of a sale's round, for the audit.
SELECT purchase_id, user_id, quantity FROM orders WHERE sale_id = $1 AND round = $2
