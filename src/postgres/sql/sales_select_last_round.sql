-- The last round PostgreSQL knows of a sale (0: none): of its orders, of the worker's mirror
-- of rounds, and of the stock row of the Postgres strategies (a round may have sold nothing).
-- GREATEST skips the NULLs of the tables that know nothing of the sale.
SELECT GREATEST(
    (SELECT max(round) FROM orders WHERE sale_id = $1),
    (SELECT max(round) FROM sales WHERE sale_id = $1),
    (SELECT round FROM sale_stock WHERE sale_id = $1),
    0
)::BIGINT
