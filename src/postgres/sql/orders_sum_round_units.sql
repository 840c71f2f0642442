-- Units persisted for a sale's round (the control room's "persisted").
SELECT COALESCE(SUM(quantity), 0)::BIGINT FROM orders WHERE sale_id = $1 AND round = $2
