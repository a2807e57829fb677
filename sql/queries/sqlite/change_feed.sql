-- The change feed, SQLite flavour (common/change_feed.sql: the reads).

-- name: get_change_feed_bounds()^
-- No bounds: write transactions run one at a time, so entries commit in sequence order
-- (postgresql/change_feed.sql has the bounds).
SELECT NULL AS sequence_bound, NULL AS time_bound;
