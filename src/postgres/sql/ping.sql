-- Readiness: the database answers.
SELECT 1
