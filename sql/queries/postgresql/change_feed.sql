-- The change feed, PostgreSQL flavour (common/change_feed.sql: the reads).

-- name: get_change_feed_bounds()^
-- What a reader may show: entries with sequence <= sequence_bound and timestamp < time_bound
-- (schema 0140: every entry below them has committed or never will). Run as a statement of its
-- own, before the read.
SELECT sequence_bound, time_bound FROM change_feed_visible_bounds();
