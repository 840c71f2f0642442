-- Whether a purchase is persisted as an order (its status is then `confirmed`).
SELECT EXISTS (SELECT 1 FROM orders WHERE purchase_id = $1)
