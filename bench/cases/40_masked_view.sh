# requires: pg_privacy
#
# 40_masked_view: masked.bench_desk (privacy.mask_column) against the table it shows
# (BENCHMARKS.md, "masked view"). email is masked with privacy.mask_email, card with
# privacy.mask_card; the other columns pass through.
#
# Roles (made here; the bench cluster trusts local connections, so pgbench logs in as them):
#   bench_table     SELECT on bench_desk: the application without masking
#   bench_masked    SELECT on masked.bench_desk only: sees the masks
#   bench_unmasked  SELECT on masked.bench_desk only, with unmask_column for every masked column
#
# Point lookups (pgbench, 2 clients, SELECT * ... WHERE id = random id), per protocol mode
# (-M prepared, -M simple): an untimed warm-up of each side, then $REPS timed runs of each side in
# the order table, view, view, table, table, ... (alternating, so drift in the machine's load
# hits both); the median of each side is recorded as ms per transaction, so the comparison
# peer/ours is TPS(view) / TPS(table).
#   table.point_lookup.<mode>         bench_table on bench_desk
#   masked_view.point_lookup.<mode>   bench_masked on masked.bench_desk
#
# Full scans (bench.measure, run_as the role), sum(length(email)) + sum(length(card)) so both
# masked columns are computed on every row:
#   table.scan(email,card)                bench_table on bench_desk
#   masked_view.scan.unmasked             bench_unmasked on masked.bench_desk
#   masked_view.scan.masked               bench_masked on masked.bench_desk
#   direct.mask_email+mask_card           bench_table: the same mask functions called on the table
#
# BENCH_PGBENCH_SECONDS (default 10) is the length of each timed pgbench run,
# BENCH_PGBENCH_WARMUP (default 5) that of each warm-up. The plans of the point lookup and of the
# scan are written to $BENCH_DIR/40_masked_view.plans.txt and checked (index scan for the lookup,
# the reader's branch folded into the plan by the planner: no InitPlan, no _mask_choice call).

PGBENCH_SECONDS=${BENCH_PGBENCH_SECONDS:-10}
PGBENCH_WARMUP=${BENCH_PGBENCH_WARMUP:-5}
[[ "$PGBENCH_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_PGBENCH_SECONDS must be a positive integer"
[[ "$PGBENCH_WARMUP" =~ ^[0-9]+$ ]] || die "BENCH_PGBENCH_WARMUP must be a non-negative integer"

# ---------------------------------------------------------------------------------------------
# Roles, rules and grants; then check that each role sees what it should.

bench_psql <<'SQL'
DO $$
DECLARE r name;
BEGIN
  FOREACH r IN ARRAY ARRAY['bench_table', 'bench_masked', 'bench_unmasked'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I LOGIN', r);
    END IF;
  END LOOP;
END
$$;
GRANT SELECT ON bench_desk TO bench_table;
\o /dev/null
SELECT privacy.mask_column('bench_desk', 'email', 'privacy.mask_email(email)');
SELECT privacy.mask_column('bench_desk', 'card', 'privacy.mask_card(card)');
SELECT privacy.unmask_column('bench_desk', NULL, 'bench_unmasked');
\o
GRANT SELECT ON masked.bench_desk TO bench_masked, bench_unmasked;
-- References for what any view costs in PostgreSQL, in the same run: the same masks in a
-- hand-written security-barrier view, and SELECT * views with and without a security barrier.
CREATE VIEW public.bench_desk_handmade WITH (security_barrier) AS
  SELECT id, privacy.mask_email(email) AS email, phone, privacy.mask_card(card) AS card, name, note
    FROM bench_desk;
CREATE VIEW public.bench_desk_plain AS SELECT * FROM bench_desk;
CREATE VIEW public.bench_desk_barrier WITH (security_barrier) AS SELECT * FROM bench_desk;
GRANT SELECT ON bench_desk_handmade TO bench_masked;
GRANT SELECT ON bench_desk_plain, bench_desk_barrier TO bench_unmasked;

-- Sanity: on the first 1,000 rows, the masked role sees exactly the masks, the unmasked role and
-- the table role exactly the table.
DO $$
DECLARE
  masked_view text; unmasked_view text; table_role text; plain text; direct text;
BEGIN
  PERFORM set_config('role', 'bench_masked', true);
  SELECT md5(string_agg(concat_ws('|', id, email, phone, card, name, note), E'\n' ORDER BY id))
    INTO masked_view FROM masked.bench_desk WHERE id <= 1000;
  PERFORM set_config('role', 'bench_unmasked', true);
  SELECT md5(string_agg(concat_ws('|', id, email, phone, card, name, note), E'\n' ORDER BY id))
    INTO unmasked_view FROM masked.bench_desk WHERE id <= 1000;
  PERFORM set_config('role', 'bench_table', true);
  SELECT md5(string_agg(concat_ws('|', id, email, phone, card, name, note), E'\n' ORDER BY id))
    INTO table_role FROM bench_desk WHERE id <= 1000;
  PERFORM set_config('role', 'none', true);
  SELECT md5(string_agg(concat_ws('|', id, email, phone, card, name, note), E'\n' ORDER BY id)),
         md5(string_agg(concat_ws('|', id, privacy.mask_email(email), phone, privacy.mask_card(card),
                                  name, note), E'\n' ORDER BY id))
    INTO plain, direct FROM bench_desk WHERE id <= 1000;
  IF masked_view IS DISTINCT FROM direct OR masked_view = plain THEN
    RAISE EXCEPTION 'masked view: bench_masked does not see the masks of email and card';
  END IF;
  IF unmasked_view IS DISTINCT FROM plain OR table_role IS DISTINCT FROM plain THEN
    RAISE EXCEPTION 'masked view: bench_unmasked or bench_table does not see the table as stored';
  END IF;
END
$$;
SQL

# ---------------------------------------------------------------------------------------------
# Plans, as the masked role: the lookup must use the primary key, and the role's branch of each
# masked column must be folded into the plan.

PLANS="$BENCH_DIR/$BENCH_CASE.plans.txt"
PGOPTIONS="-c client_min_messages=warning" cluster_psql "$BENCH_DIR" -d bench -U bench_masked -q \
  -v id=$(( (ROWS + 1) / 2 )) >"$PLANS" <<'SQL'
\echo '-- point lookup, simple protocol (as bench_masked)'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM masked.bench_desk WHERE id = :id;
\echo '-- point lookup, prepared: the plan after 6 executions (generic unless custom plans win)'
PREPARE lookup(bigint) AS SELECT * FROM masked.bench_desk WHERE id = $1;
\o /dev/null
EXECUTE lookup(1); EXECUTE lookup(2); EXECUTE lookup(3); EXECUTE lookup(4); EXECUTE lookup(5); EXECUTE lookup(6);
\o
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE lookup(:id);
\echo '-- full scan (as bench_masked)'
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT sum(length(email)) + sum(length(card)) FROM masked.bench_desk;
SQL
lookups=$(grep -c 'Index Scan using bench_desk_pkey on bench_desk' "$PLANS" || true)
# The planner folds the reader's branch into the plan: no InitPlan, no call to _mask_choice left,
# and the masked role's plans call the two masks.
leftovers=$(grep -c -E 'InitPlan|_mask_choice' "$PLANS" || true)
masks=$(grep -c -E 'privacy\.mask_email\(.*privacy\.mask_card\(' "$PLANS" || true)
if [ "$lookups" != 2 ]; then
  echo "WARNING: $BENCH_CASE: a point lookup through masked.bench_desk does not use bench_desk_pkey (see $PLANS)"
fi
if [ "$leftovers" != 0 ] || [ "$masks" = 0 ]; then
  echo "WARNING: $BENCH_CASE: the reader's branch was not folded into the plan; see $PLANS"
fi
echo "  plans: $lookups of 2 point lookups on bench_desk_pkey, $leftovers InitPlans or _mask_choice calls left ($PLANS)"

# ---------------------------------------------------------------------------------------------
# Full scans, in one session.

bench_psql -At -v case="$BENCH_CASE" -v reps="$REPS" -v rows="$ROWS" <<'SQL'
SET client_min_messages = warning;
SELECT bench.measure(:'case', 'table.scan(email,card)',
  $q$SELECT sum(length(email)) + sum(length(card)) FROM bench_desk$q$,
  :reps, nrows => :rows, run_as => 'bench_table');
SELECT bench.measure(:'case', 'masked_view.scan.unmasked',
  $q$SELECT sum(length(email)) + sum(length(card)) FROM masked.bench_desk$q$,
  :reps, nrows => :rows, run_as => 'bench_unmasked');
SELECT bench.measure(:'case', 'masked_view.scan.masked',
  $q$SELECT sum(length(email)) + sum(length(card)) FROM masked.bench_desk$q$,
  :reps, nrows => :rows, run_as => 'bench_masked');
SELECT bench.measure(:'case', 'direct.mask_email+mask_card',
  $q$SELECT sum(length(privacy.mask_email(email))) + sum(length(privacy.mask_card(card))) FROM bench_desk$q$,
  :reps, nrows => :rows, run_as => 'bench_table');
SELECT bench.measure(:'case', 'plain_view.scan',
  $q$SELECT sum(length(email)) + sum(length(card)) FROM bench_desk_plain$q$,
  :reps, nrows => :rows, run_as => 'bench_unmasked');
SELECT bench.measure(:'case', 'barrier_view.scan',
  $q$SELECT sum(length(email)) + sum(length(card)) FROM bench_desk_barrier$q$,
  :reps, nrows => :rows, run_as => 'bench_unmasked');

-- Whole per-row times (no baselines), as BENCHMARKS.md states these targets.
INSERT INTO bench.ratio_targets (case_name, label, peer_label, target, note) VALUES
  (:'case', 'masked_view.scan.unmasked', 'table.scan(email,card)', '<= 1.1',
   'full scan through masked.bench_desk as an unmasked role vs the table'),
  (:'case', 'masked_view.scan.masked', 'direct.mask_email+mask_card', '<= 1.2',
   'full scan through masked.bench_desk as a masked role vs mask_email/mask_card called on the table'),
  (:'case', 'masked_view.scan.unmasked', 'barrier_view.scan', NULL,
   'for reference: vs a hand-written SELECT * view WITH (security_barrier), i.e. what the barrier itself costs'),
  (:'case', 'plain_view.scan', 'table.scan(email,card)', NULL,
   'for reference: a SELECT * view without a barrier vs the table');
SQL

# ---------------------------------------------------------------------------------------------
# Point lookups with pgbench.

printf '\\set id random(1, %s)\nSELECT * FROM bench_desk WHERE id = :id;\n' "$ROWS" \
  >"$BENCH_DIR/$BENCH_CASE.table.pgbench"
printf '\\set id random(1, %s)\nSELECT * FROM masked.bench_desk WHERE id = :id;\n' "$ROWS" \
  >"$BENCH_DIR/$BENCH_CASE.view.pgbench"
printf '\\set id random(1, %s)\nSELECT * FROM bench_desk_handmade WHERE id = :id;\n' "$ROWS" \
  >"$BENCH_DIR/$BENCH_CASE.handmade.pgbench"

declare -A ROLE=([table]=bench_table [view]=bench_masked [handmade]=bench_masked)
declare -A LABEL=([table]=table.point_lookup [view]=masked_view.point_lookup
                  [handmade]=handmade_view.point_lookup)

# pgbench_tps SIDE MODE SECONDS: runs one pgbench and prints its TPS.
pgbench_tps() {
  local side=$1 mode=$2 secs=$3 out tps
  out=$("$PG_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U "${ROLE[$side]}" -n -M "$mode" -c 2 -j 2 \
          -T "$secs" -f "$BENCH_DIR/$BENCH_CASE.$side.pgbench" bench 2>&1) \
    || { echo "$out" >&2; die "pgbench ($side, -M $mode) failed"; }
  tps=$(sed -n -E 's/^tps = ([0-9.]+) .*/\1/p' <<<"$out" | head -n1)
  [ -n "$tps" ] || { echo "$out" >&2; die "pgbench ($side, -M $mode) printed no tps"; }
  echo "$tps"
}

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for mode in prepared simple; do
  if [ "$PGBENCH_WARMUP" -gt 0 ]; then
    pgbench_tps table "$mode" "$PGBENCH_WARMUP" >/dev/null
    pgbench_tps view "$mode" "$PGBENCH_WARMUP" >/dev/null
    pgbench_tps handmade "$mode" "$PGBENCH_WARMUP" >/dev/null
  fi
  declare -A runs=([table]="" [view]="" [handmade]="") med=()
  for ((i = 1; i <= REPS; i++)); do
    if ((i % 2)); then order=(table view handmade); else order=(handmade view table); fi
    for side in "${order[@]}"; do runs[$side]+=" $(pgbench_tps "$side" "$mode" "$PGBENCH_SECONDS")"; done
  done
  for side in table view handmade; do
    # shellcheck disable=SC2086
    med[$side]=$(median ${runs[$side]})
    # Recorded as ms per transaction (over 2 clients): 1000 / TPS.
    # shellcheck disable=SC2086
    times=$(printf '%s\n' ${runs[$side]} | awk '{ printf "%s%.6f", (NR > 1 ? "," : ""), 1000 / $1 }')
    # shellcheck disable=SC2086
    bench_record "${LABEL[$side]}.$mode" "$(awk -v t="${med[$side]}" 'BEGIN { printf "%.6f", 1000 / t }')" 1 "" \
      "$times" "pgbench -M $mode -c 2 -j 2 -T $PGBENCH_SECONDS -U ${ROLE[$side]}: $(tr '\n' ' ' <"$BENCH_DIR/$BENCH_CASE.$side.pgbench")" \
      | sed "s/\$/  TPS: median $(printf '%.0f' "${med[$side]}"), runs$(printf ' %.0f' ${runs[$side]})/"
  done
  bench_psql -v case="$BENCH_CASE" -v mode="$mode" -v tv="${med[view]}" -v tt="${med[table]}" -v th="${med[handmade]}" \
    -v s="$PGBENCH_SECONDS" <<'SQL'
INSERT INTO bench.ratio_targets (case_name, label, peer_label, target, note) VALUES
  (:'case', 'masked_view.point_lookup.' || :'mode', 'table.point_lookup.' || :'mode', '>= 0.90',
   format('point lookups, pgbench -M %s, 2 clients, %s s runs: median TPS %s (view as bench_masked) vs %s (table); the ratio is TPS(view) / TPS(table)',
          :'mode', :'s', round(:'tv'::numeric), round(:'tt'::numeric))),
  (:'case', 'masked_view.point_lookup.' || :'mode', 'handmade_view.point_lookup.' || :'mode', NULL,
   format('for reference: vs the same masks in a hand-written security-barrier view (median TPS %s), pgbench -M %s',
          round(:'th'::numeric), :'mode'));
SQL
  unset runs med
done
