-- Watermarks: a global, increasing version number per stored instance (decisions §3).

-- name: next_watermark()^
-- Take the next watermark.
SELECT nextval('watermark_sequence') AS watermark;
