-- The change feed's read bounds (0140) read pg_stat_activity only while a writer is in flight:
-- scanning it cost as much again as the lock table, on every read (about 0.8 ms here).
CREATE OR REPLACE FUNCTION change_feed_visible_bounds(OUT sequence_bound BIGINT,
                                           OUT time_bound TIMESTAMPTZ)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    started TIMESTAMPTZ := clock_timestamp();
    allocated BIGINT := COALESCE(pg_sequence_last_value('change_feed_sequence'), 0);
    lowest BIGINT;
    writers INTEGER[];
BEGIN
    SELECT min(((l.classid::bigint << 32) | l.objid::bigint) - 4611686018427387904),
           array_agg(l.pid)
      INTO lowest, writers
      FROM pg_locks l
     WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid >= 1073741824
       AND l.granted
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());
    sequence_bound := LEAST(allocated, lowest);
    time_bound := started;
    IF writers IS NOT NULL THEN  -- only then: reading pg_stat_activity costs as much again
        SELECT LEAST(started, min(COALESCE(a.xact_start, '-infinity')))
          INTO time_bound
          FROM unnest(writers) AS w(pid)
          LEFT JOIN pg_stat_activity a ON a.pid = w.pid;
    END IF;
END $$;
