-- Health check (reference.md §10).

-- name: health_ping()^
-- Reads a table, so a database file that is gone, corrupt or unreadable fails the check
-- (SELECT 1 would not touch the file on SQLite).
SELECT count(*) AS partition_count
  FROM partitions
 WHERE partition_key = 1;
