-- bench/report.sql: print the results of a run (bench/run does; on a cluster kept with --keep:
--   psql -h target/bench -p 55440 -U postgres -f bench/report.sql bench).

\pset footer off
\pset null ''
\echo
\echo 'Measurements: median of the timed runs; µs/row = median / rows; overhead µs/row = µs/row − the baseline''s µs/row'
SELECT * FROM bench.measurements;

\echo
SELECT count(*) > 0 AS have_comparisons FROM bench.ratio_targets \gset
\if :have_comparisons
\echo 'Comparisons: ours and peer are per-row overheads over the baselines in "note" (whole per-row times where it says "nothing").'
\echo 'ratio is ours/peer (cost: lower is better) or peer/ours (× faster: higher is better), as the "ratio is" column says.'
SELECT * FROM bench.comparisons;
\else
\echo 'Comparisons: none declared (the cases that ran declare no targets).'
\endif
