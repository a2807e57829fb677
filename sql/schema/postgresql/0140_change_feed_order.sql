-- One order of the change feed with several writers at once (issue #17, several nodes).
--
-- Sequence values are taken when a row is inserted, but become visible when their transaction
-- commits: transaction A takes 10, B takes 11 and commits first. A reader paging by sequence
-- then sees 11, continues after it, and never sees 10. So every writer announces, before it
-- takes its first value, that its values will be above the sequence's current last value: a
-- shared transaction-level advisory lock whose key is that value (plus 2^62, apart from the
-- other advisory locks, which are below 2^32), held until it commits or rolls back. A reader
-- (change_feed_visible_bounds) shows only entries up to the lowest such announced value and
-- the sequence's last value read before it looked; everything up to there has committed or
-- never will. Writers never wait for each other or for readers.
--
-- The timestamp is the database clock after the announcement (the app's value is replaced):
-- one clock for every node, and a bound for the v2 feed by time too: an entry still in flight
-- has a timestamp at or after its transaction's start.

ALTER TABLE change_feed ALTER COLUMN sequence DROP IDENTITY;
CREATE SEQUENCE change_feed_sequence AS BIGINT OWNED BY change_feed.sequence;
SELECT setval('change_feed_sequence', max(sequence)) FROM change_feed
HAVING max(sequence) IS NOT NULL;

CREATE FUNCTION change_feed_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('dicom.change_feed_writer', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_advisory_xact_lock_shared(4611686018427387904
            + COALESCE(pg_sequence_last_value('change_feed_sequence'), 0));
        PERFORM set_config('dicom.change_feed_writer', 'on', true);
    END IF;
    NEW.timestamp := clock_timestamp();
    NEW.sequence := nextval('change_feed_sequence');
    RETURN NEW;
END $$;

CREATE TRIGGER change_feed_order BEFORE INSERT ON change_feed
    FOR EACH ROW EXECUTE FUNCTION change_feed_before_insert();

-- The entries a reader may show: sequence <= sequence_bound, timestamp < time_bound. Called in
-- a statement of its own: the reader's next statement (a new snapshot) sees every entry below
-- the bounds. A writer of another database role shows no xact_start: nothing by time is shown
-- until it ends (every node connects as one role).
CREATE FUNCTION change_feed_visible_bounds(OUT sequence_bound BIGINT,
                                           OUT time_bound TIMESTAMPTZ)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    started TIMESTAMPTZ := clock_timestamp();
    allocated BIGINT := COALESCE(pg_sequence_last_value('change_feed_sequence'), 0);
BEGIN
    SELECT LEAST(allocated, min(((l.classid::bigint << 32) | l.objid::bigint)
                                - 4611686018427387904)),
           LEAST(started, min(COALESCE(a.xact_start, '-infinity')))
      INTO sequence_bound, time_bound
      FROM pg_locks l
      LEFT JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid >= 1073741824
       AND l.granted
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());
END $$;
