-- bench/harness.sql: the measuring harness that bench/run loads into the `bench` database.
--
--   bench.results             one row per measured label: median of `reps` timed runs
--   bench.ratio_targets       the comparisons each case declares (ours vs a peer, with a target)
--   bench.measure(...)        times a query and records it
--   bench.record_result(...)  records a figure measured elsewhere (e.g. by pgbench in a .sh case)
--   bench.measurements        view: every measurement with µs/row and overhead over its baseline
--   bench.comparisons         view: every declared comparison with its ratio and PASS/FAIL
--
-- Labels are global to a run: a case may use the baselines and peers measured by earlier cases
-- (00_baseline always runs first).

\set ON_ERROR_STOP 1

DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

CREATE TABLE bench.results (
  seq            bigserial,
  case_name      text NOT NULL,
  label          text PRIMARY KEY,
  reps           int NOT NULL,
  median_ms      float8 NOT NULL,
  rows           bigint NOT NULL CHECK (rows > 0),  -- rows (or transactions) one run processes
  min_ms         float8,
  max_ms         float8,
  times_ms       float8[],                          -- every timed run, in order
  baseline_label text,                              -- subtracted in bench.measurements
  query          text,
  measured_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A comparison: the per-row cost of `label` (ours) against that of `peer_label`.
--
-- Per-row cost is the overhead t / rows − t_baseline / rows_baseline. Each side's baseline is,
-- by default, the one it was measured with (bench.measure's `baseline`), so ours and the peer
-- may run over different scans (pgp_sym_encrypt runs on a 10,000-row subset, a decryption scan
-- over its own ciphertext table). baseline_label overrides that for both sides,
-- peer_baseline_label for the peer alone. A side without any baseline counts its whole per-row
-- time t / rows: that is how "full scan through the view ≤ 1.1× the table scan" or
-- per-transaction times from pgbench compare.
--
-- direction: 'ours/peer' (a cost ratio: ≤ 0.5 means ours costs at most half the peer's) or
-- 'peer/ours' (a speed-up: ≥ 100 means ours is at least 100× faster; for per-transaction
-- times it is also the TPS ratio ours/peer). When NULL it follows the target: '<' and '<='
-- mean ours/peer, '>' and '>=' mean peer/ours.
--
-- target: '<= 0.5', '>= 100', ... or NULL for a comparison shown for information only.
CREATE TABLE bench.ratio_targets (
  case_name           text NOT NULL,
  label               text NOT NULL,
  peer_label          text NOT NULL,
  baseline_label      text,
  target              text CHECK (target ~ '^\s*(<=|>=|<|>)\s*[0-9]+(\.[0-9]+)?\s*$'),
  note                text,
  direction           text CHECK (direction IN ('ours/peer', 'peer/ours')),
  peer_baseline_label text,
  seq                 bigserial,
  PRIMARY KEY (label, peer_label)
);

-- Record one measurement (replaces an earlier one with the same label).
CREATE FUNCTION bench.record_result(case_name text, label text, median_ms float8, rows bigint,
                             reps int DEFAULT 1, baseline text DEFAULT NULL,
                             times_ms float8[] DEFAULT NULL, query text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM bench.results r WHERE r.label = record_result.label;
  INSERT INTO bench.results (case_name, label, reps, median_ms, rows, min_ms, max_ms, times_ms,
                             baseline_label, query)
  VALUES (record_result.case_name, record_result.label, record_result.reps,
          record_result.median_ms, record_result.rows,
          (SELECT min(x) FROM unnest(record_result.times_ms) x),
          (SELECT max(x) FROM unnest(record_result.times_ms) x),
          record_result.times_ms, record_result.baseline, record_result.query);
  RETURN format('  %s %s ms  %s µs/row  (%s rows, %s reps%s)',
                rpad(record_result.label, 44),
                lpad(to_char(record_result.median_ms, 'FM9999999990.0'), 9),
                lpad(to_char(record_result.median_ms * 1000 / record_result.rows, 'FM99999990.000'), 9),
                record_result.rows, record_result.reps,
                CASE WHEN record_result.times_ms IS NOT NULL AND record_result.median_ms > 0
                  THEN ', spread ' || to_char(((SELECT max(x) - min(x) FROM unnest(record_result.times_ms) x)
                                               / record_result.median_ms * 100), 'FM9990') || '%'
                  ELSE '' END);
END
$$;

-- Time `query` `reps` times (after one untimed warm-up run) and record the median.
--
-- The query must make the server evaluate the function for every row without shipping rows to
-- the client, and must consume the result so the planner cannot drop it:
--     SELECT count(f(col)) FROM bench_desk
-- It returns the number of rows processed, which becomes `rows` (the per-row divisor); pass
-- nrows when the query returns something else (e.g. sum(length(f(col)))) or when f may return
-- NULL. `baseline` names the label whose per-row time bench.measurements subtracts.
--
-- run_as: a role to run the query as (warm-up and timed runs), as after SET ROLE; the result is
-- recorded with the caller's rights, so the role needs no access to schema bench.
CREATE FUNCTION bench.measure(case_name text, label text, query text, reps int DEFAULT NULL,
                              baseline text DEFAULT NULL, nrows bigint DEFAULT NULL,
                              run_as name DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  n   int := coalesce(reps, nullif(current_setting('bench.reps', true), '')::int, 3);
  v   numeric;
  t0  timestamptz;
  ts  float8[] := '{}';
  med float8;
  r   bigint;
  caller_role text := current_setting('role');
BEGIN
  IF n < 1 THEN
    RAISE EXCEPTION 'bench.measure(%): reps must be at least 1', label;
  END IF;
  IF run_as IS NOT NULL THEN
    PERFORM set_config('role', run_as, true);         -- until the end of this transaction
  END IF;
  EXECUTE query INTO v;                               -- warm-up, untimed
  r := coalesce(nrows, v::bigint);
  IF r IS NULL OR r <= 0 THEN
    RAISE EXCEPTION 'bench.measure(%): the query returned %, not a row count', label, v
      USING HINT = 'Use the shape SELECT count(f(col)) FROM ..., or pass nrows.';
  END IF;
  FOR i IN 1 .. n LOOP
    t0 := clock_timestamp();
    EXECUTE query INTO v;
    ts := ts || (extract(epoch FROM clock_timestamp() - t0) * 1000)::float8;
  END LOOP;
  IF run_as IS NOT NULL THEN
    PERFORM set_config('role', caller_role, true);
  END IF;
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO med FROM unnest(ts) x;
  RETURN bench.record_result(case_name, label, med, r, n, baseline, ts,
                             CASE WHEN run_as IS NULL THEN query
                                  ELSE format('/* as %s */ %s', run_as, query) END);
END
$$;

-- Every measurement, in the order taken.
CREATE VIEW bench.measurements AS
SELECT r.case_name                                               AS "case",
       r.label,
       r.rows,
       r.reps,
       round(r.median_ms::numeric, 1)                            AS "median ms",
       round(((r.max_ms - r.min_ms) / nullif(r.median_ms, 0) * 100)::numeric, 0) AS "spread %",
       round((r.median_ms * 1000 / r.rows)::numeric, 3)          AS "µs/row",
       r.baseline_label                                          AS baseline,
       round(((r.median_ms / r.rows - b.median_ms / b.rows) * 1000)::numeric, 3)
                                                                 AS "overhead µs/row"
FROM bench.results r
LEFT JOIN bench.results b ON b.label = r.baseline_label
ORDER BY r.seq;

-- Every declared comparison. "ours µs/row" and "peer µs/row" are per-row overheads over the
-- declared baselines (whole per-row times when the comparison has no baseline); "ratio" is
-- computed in the direction shown in "ratio is".
CREATE VIEW bench.comparisons AS
WITH b AS (
  SELECT t.*, o.label AS o_found, p.label AS p_found,
         coalesce(t.baseline_label, o.baseline_label) AS ours_base,
         coalesce(t.peer_baseline_label, t.baseline_label, p.baseline_label) AS peer_base,
         o.median_ms * 1000 / o.rows AS ours_t,
         p.median_ms * 1000 / p.rows AS peer_t
  FROM bench.ratio_targets t
  LEFT JOIN bench.results o ON o.label = t.label
  LEFT JOIN bench.results p ON p.label = t.peer_label
), c AS (
  SELECT b.*,
         coalesce(b.direction,
                  CASE WHEN b.target ~ '>' THEN 'peer/ours' ELSE 'ours/peer' END) AS dir,
         b.ours_t - CASE WHEN b.ours_base IS NULL THEN 0 ELSE ob.median_ms * 1000 / ob.rows END AS ours_us,
         b.peer_t - CASE WHEN b.peer_base IS NULL THEN 0 ELSE pb.median_ms * 1000 / pb.rows END AS peer_us,
         concat_ws(', ',
           CASE WHEN b.o_found IS NULL THEN b.label END,
           CASE WHEN b.ours_base IS NOT NULL AND ob.label IS NULL THEN b.ours_base END,
           CASE WHEN b.p_found IS NULL THEN b.peer_label END,
           CASE WHEN b.peer_base IS NOT NULL AND pb.label IS NULL
                 AND b.peer_base IS DISTINCT FROM b.ours_base THEN b.peer_base END) AS missing,
         substring(b.target FROM '(<=|>=|<|>)') AS op,
         substring(b.target FROM '[0-9]+(?:\.[0-9]+)?')::float8 AS bound
  FROM b
  LEFT JOIN bench.results ob ON ob.label = b.ours_base
  LEFT JOIN bench.results pb ON pb.label = b.peer_base
), r AS (
  SELECT c.*,
         -- A ratio over a denominator that is not positive (an overhead lost in the noise) means
         -- nothing: leave it NULL.
         CASE WHEN c.dir = 'ours/peer' THEN CASE WHEN c.peer_us > 0 THEN c.ours_us / c.peer_us END
              ELSE CASE WHEN c.ours_us > 0 THEN c.peer_us / c.ours_us END
         END AS ratio
  FROM c
)
SELECT r.case_name                                     AS "case",
       r.label                                         AS ours,
       r.peer_label                                    AS peer,
       round(r.ours_us::numeric, 3)                    AS "ours µs/row",
       round(r.peer_us::numeric, 3)                    AS "peer µs/row",
       round(r.ratio::numeric, CASE WHEN abs(r.ratio) >= 10 THEN 1 ELSE 3 END) AS ratio,
       CASE r.dir WHEN 'ours/peer' THEN 'ours/peer (cost)' ELSE 'peer/ours (× faster)' END
                                                       AS "ratio is",
       coalesce(r.target, '-')                         AS target,
       CASE WHEN r.missing <> '' THEN 'MISSING: ' || r.missing
            WHEN r.ratio IS NULL THEN 'n/a (overhead ≤ 0, noise)'
            WHEN r.target IS NULL THEN 'info'
            WHEN CASE r.op WHEN '<=' THEN r.ratio <= r.bound WHEN '<' THEN r.ratio < r.bound
                           WHEN '>=' THEN r.ratio >= r.bound ELSE r.ratio > r.bound END
              THEN 'PASS'
            ELSE 'FAIL'
       END                                             AS result,
       concat_ws('; ',
         CASE WHEN r.ours_base IS NOT DISTINCT FROM r.peer_base
              THEN 'both − ' || coalesce(r.ours_base, 'nothing (whole per-row times)')
              ELSE 'ours − ' || coalesce(r.ours_base, 'nothing') || ', peer − ' || coalesce(r.peer_base, 'nothing')
         END,
         r.note)                                       AS note
FROM r
ORDER BY r.seq;
