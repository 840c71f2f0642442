-- The units left in a round by the stock counter; no row when the sale is in another round.
SELECT remaining FROM sale_stock WHERE sale_id = $1 AND round = $2
