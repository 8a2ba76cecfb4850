-- Range-partition the stored intervals by UTC month: attributed_costs, tenant_usage, gpu_samples and
-- kv_samples. See docs/scale-out.md. Apply to a database migrated by `attribution db upgrade`, with the
-- scheduler stopped (the conversion takes an exclusive lock on each table and copies its rows):
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f deploy/postgres/partitioning.sql
--
-- Why: a fleet's telemetry grows by a month's worth of rows every month, and every query the service
-- runs (collection upserts, attribution of a window, reports of a period) names an interval_start range,
-- so Postgres prunes to the months concerned; an old month is detached or dropped in a moment instead of
-- a long DELETE. Every primary key starts with interval_start, so each stays a primary key (and ON
-- CONFLICT upserts keep working) on the partitioned table.
--
-- Idempotent: a table that is already partitioned only gets its missing monthly partitions. Partitions
-- cover the last 12 months (and every month with rows) to 3 months ahead; before backfilling older
-- months, `SELECT attribution_ensure_partitions('<table>', 3, '2025-01-01T00:00:00Z')` for each table.
-- Rows outside every monthly partition land in <table>_default; keep `SELECT attribution_ensure_partitions(...)`
-- running ahead of time (a monthly cron job or pg_cron, see docs/operations.md) so that it stays empty:
-- Postgres refuses to create a month's partition while the default partition holds rows of that month.
-- Views that read a converted table (the analyst views) are dropped and recreated with their definition.

BEGIN;

CREATE OR REPLACE FUNCTION attribution_month_partition(tbl text, month date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  first_day date := date_trunc('month', month)::date;
  name text := format('%s_p%s', tbl, to_char(first_day, 'YYYY_MM'));
BEGIN
  IF to_regclass(name) IS NULL THEN
    -- explicit +00 offsets: the bounds are UTC months whatever the session's TimeZone
    EXECUTE format(
      'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
      name, tbl, first_day::text || ' 00:00:00+00', (first_day + interval '1 month')::date::text || ' 00:00:00+00'
    );
  END IF;
END $$;

-- Monthly partitions of tbl from the month of `since`, of its oldest row, or 12 months ago, whichever is
-- earliest (a backfill of the past year needs no step), to months_ahead months from now. Returns how many
-- it created.
CREATE OR REPLACE FUNCTION attribution_ensure_partitions(
  tbl text, months_ahead int DEFAULT 3, since timestamptz DEFAULT NULL
) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  oldest timestamptz;
  month date;
  made int := 0;
BEGIN
  EXECUTE format('SELECT min(interval_start) FROM %I', tbl) INTO oldest;
  month := date_trunc('month', least(since, oldest, now() - interval '12 months') AT TIME ZONE 'UTC')::date;
  WHILE month <= (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => months_ahead))::date LOOP
    IF to_regclass(format('%s_p%s', tbl, to_char(month, 'YYYY_MM'))) IS NULL THEN
      PERFORM attribution_month_partition(tbl, month);
      made := made + 1;
    END IF;
    month := (month + interval '1 month')::date;
  END LOOP;
  RETURN made;
END $$;

CREATE OR REPLACE FUNCTION attribution_partition_by_month(tbl text, months_ahead int DEFAULT 3) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  old_name text := tbl || '_unpartitioned';
  pk_name text;
  pk_def text;
  index_defs text[];
  view_defs text[][];
  v text[];
  oldest timestamptz;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(tbl)) THEN
    PERFORM attribution_ensure_partitions(tbl, months_ahead);
    RETURN tbl || ': already partitioned';
  END IF;
  IF to_regclass(tbl) IS NULL THEN
    RAISE EXCEPTION 'no table %: run `attribution db upgrade` first', tbl;
  END IF;

  -- what must be rebuilt on the new table: its primary key, its other indexes, the views reading it
  SELECT conname, pg_get_constraintdef(oid) INTO pk_name, pk_def
    FROM pg_constraint WHERE conrelid = tbl::regclass AND contype = 'p';
  SELECT coalesce(array_agg(pg_get_indexdef(indexrelid)), '{}') INTO index_defs
    FROM pg_index WHERE indrelid = tbl::regclass AND NOT indisprimary;
  SELECT coalesce(array_agg(ARRAY[view_name, definition]), '{}') INTO view_defs FROM (
    SELECT DISTINCT c.oid::regclass::text AS view_name, pg_get_viewdef(c.oid) AS definition
      FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class c ON c.oid = r.ev_class
     WHERE d.refobjid = tbl::regclass AND c.relkind = 'v'
  ) views;
  IF cardinality(view_defs) > 0 THEN
    FOREACH v SLICE 1 IN ARRAY view_defs LOOP
      EXECUTE format('DROP VIEW %s', v[1]);
    END LOOP;
  END IF;

  EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, old_name);
  EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', old_name, pk_name, pk_name || '_unpartitioned');
  EXECUTE format(
    'CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (interval_start)',
    tbl, old_name
  );
  EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', tbl, pk_name, pk_def);
  FOR i IN 1 .. coalesce(array_length(index_defs, 1), 0) LOOP
    -- the old index keeps its name until its table is dropped: build the new one under the same name after
    EXECUTE replace(index_defs[i], 'CREATE INDEX ', 'CREATE INDEX IF NOT EXISTS tmp_');
  END LOOP;

  EXECUTE format('SELECT min(interval_start) FROM %I', old_name) INTO oldest;
  PERFORM attribution_ensure_partitions(tbl, months_ahead, oldest);
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I DEFAULT', tbl || '_default', tbl);

  EXECUTE format('INSERT INTO %I SELECT * FROM %I', tbl, old_name);
  EXECUTE format('DROP TABLE %I', old_name);
  FOR i IN 1 .. coalesce(array_length(index_defs, 1), 0) LOOP
    EXECUTE format(
      'ALTER INDEX %I RENAME TO %I',
      'tmp_' || substring(index_defs[i] FROM 'CREATE INDEX (\S+) ON'),
      substring(index_defs[i] FROM 'CREATE INDEX (\S+) ON')
    );
  END LOOP;
  IF cardinality(view_defs) > 0 THEN
    FOREACH v SLICE 1 IN ARRAY view_defs LOOP
      EXECUTE format('CREATE VIEW %s AS %s', v[1], v[2]);
    END LOOP;
  END IF;
  RETURN tbl || ': partitioned by month';
END $$;

SELECT attribution_partition_by_month(name)
  FROM unnest(ARRAY['attributed_costs', 'tenant_usage', 'gpu_samples', 'kv_samples']) AS name;

COMMIT;
