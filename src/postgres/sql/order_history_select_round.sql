-- The history of every order of a sale's round, as (purchase_id, state), for the audit.
SELECT h.purchase_id, h.state
FROM order_history h
JOIN orders o ON o.purchase_id = h.purchase_id
WHERE o.sale_id = $1 AND o.round = $2
