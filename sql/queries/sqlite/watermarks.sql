-- Watermarks: a global, increasing version number per stored instance (decisions §3).
-- SQLite has no sequences: AUTOINCREMENT never reuses a value, even after the row is deleted.

-- name: next_watermark()^
-- Take the next watermark.
INSERT INTO watermark_sequence DEFAULT VALUES RETURNING watermark;
