-- ccroute 0.9: less work per call for what nobody reads: room on live_call's pages for its
-- updates, and no statistics on the calls' explanations and facts.
\echo Use "ALTER EXTENSION ccroute UPDATE TO '0.9'" to load this file. \quit

-- A live call is inserted, updated as it rings and is answered, then deleted. None of those
-- updates touches an indexed column, so each could be a HOT update (no new entry in any of the
-- table's three unique indexes, nothing for the next unique check or key lookup to step over)
-- if the new version fits on the row's own page; with pages filled by the inserts, three in
-- four did not (make bench, DETAIL: 0.23 HOT of 1.00 updates per call). Half of each page is
-- left for them. The table holds only the calls in progress: the space costs little.
ALTER TABLE ccroute.live_call SET (fillfactor = 50);

-- ANALYZE sorted every sampled call's explanation and facts (jsonb comparisons) to find their
-- most common values: 6% of the database's CPU under load (perf -a by hand during a make
-- bench step), for statistics no plan uses (no query filters on a whole explanation or a
-- whole set of facts; a filter on one fact, facts->>'x', needs statistics on that
-- expression, which these are not). On the parent of the history's partitions it reaches
-- every partition, and each month's new partition copies it (below).
ALTER TABLE ccroute.call_history ALTER COLUMN explanation SET STATISTICS 0,
                                 ALTER COLUMN facts SET STATISTICS 0;
ALTER TABLE ccroute.live_call ALTER COLUMN explanation SET STATISTICS 0,
                              ALTER COLUMN facts SET STATISTICS 0;

-- As in 0.7, and the month's partition gets the parent's statistics targets.
CREATE OR REPLACE FUNCTION ccroute.ensure_month_partition(p_parent regclass, p_month date) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Months are UTC months, and a date column's bounds and ages are read in UTC too.
SET TimeZone = 'UTC'
AS $$
DECLARE
    first_day date := date_trunc('month', p_month)::date;
    lo timestamptz := first_day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (first_day + 1 * interval '1 month')::timestamp AT TIME ZONE 'UTC';
    part text := ccroute.month_partition_name(p_parent, first_day);
    col name := (SELECT h.time_column FROM ccroute.partitioned_history() h WHERE h.parent = p_parent);
    cols text := (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                    FROM pg_attribute a
                   WHERE a.attrelid = p_parent AND a.attnum > 0 AND NOT a.attisdropped);
    dflt regclass := (SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       WHERE i.inhparent = p_parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT');
    moved bigint := 0;
    stat record;
BEGIN
    IF col IS NULL THEN
        RAISE EXCEPTION '% is not a partitioned history table', p_parent USING ERRCODE = 'wrong_object_type';
    END IF;
    IF to_regclass(format('ccroute.%I', part)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE ccroute.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, p_parent);
    PERFORM ccroute.protect_partition(format('ccroute.%I', part)::regclass);
    -- LIKE copies no column's statistics target: the parent's are set on the month's own.
    FOR stat IN SELECT a.attname, a.attstattarget FROM pg_attribute a
                 WHERE a.attrelid = p_parent AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attstattarget >= 0 LOOP
        EXECUTE format('ALTER TABLE ccroute.%I ALTER COLUMN %I SET STATISTICS %s',
                       part, stat.attname, stat.attstattarget);
    END LOOP;
    IF dflt IS NOT NULL THEN
        EXECUTE format('WITH m AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING %s)
                        INSERT INTO ccroute.%I (%s) SELECT * FROM m',
                       dflt, col, col, cols, part, cols) USING lo, hi;
        GET DIAGNOSTICS moved = ROW_COUNT;
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION ccroute.%I FOR VALUES FROM (%L) TO (%L)',
                   p_parent, part, lo, hi);
    RETURN moved;
END
$$;
