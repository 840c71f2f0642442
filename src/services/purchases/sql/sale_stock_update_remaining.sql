-- The new remaining figure a purchase computed from what it read.
UPDATE sale_stock SET remaining = $2 WHERE sale_id = $1
