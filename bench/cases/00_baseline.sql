-- 00_baseline: plain scans (the baselines every other case subtracts) and the builtin peers.
--
-- Always runs, even under --only, because later cases refer to its labels:
--   scan.email, scan.note   count(col) over bench_desk: the cost of the scan itself
--
-- bench/run includes each case with the psql variables :case (this file's name without .sql),
-- :reps and :rows.

SELECT bench.measure(:'case', 'scan.email',
  $q$SELECT count(email) FROM bench_desk$q$, :reps);
SELECT bench.measure(:'case', 'scan.note',
  $q$SELECT count(note) FROM bench_desk$q$, :reps);

-- The builtins BENCHMARKS.md lists as peers for masking (md5) and redaction (regexp_replace).
SELECT bench.measure(:'case', 'builtin.md5(email)',
  $q$SELECT count(md5(email)) FROM bench_desk$q$, :reps, 'scan.email');
SELECT bench.measure(:'case', 'builtin.regexp_replace(email)',
  $q$SELECT count(regexp_replace(email, '@.*', '')) FROM bench_desk$q$, :reps, 'scan.email');
