# requires: pg_privacy
#
# 60_audit: what the access audit costs the application (BENCHMARKS.md, "DML audit" and "read
# audit"), against no audit and against pgaudit, measured side by side in the same run.
#
# The pgbench tables (pgbench -i -s BENCH_AUDIT_SCALE, default 10: 1,000,000 accounts) in schema
# public of the bench database; pgbench runs as postgres, 2 clients (-c 2 -j 2), protocol
# BENCH_AUDIT_MODE (default simple, pgbench's default).
#
# Two workloads, each on three sides:
#   tpcb    pgbench's default TPC-B-like script (3 UPDATEs, 1 SELECT, 1 INSERT per transaction)
#     audit.tpcb.no_audit            nothing audited, pgaudit.log = none
#     audit.tpcb.pg_privacy          privacy.audit_table on pgbench_accounts, _branches, _tellers
#                                    and _history (row-level DML audit: 4 audit rows a transaction)
#     audit.tpcb.pgaudit_write       pgaudit.log = 'write'
#   select  pgbench -S (select-only: one primary-key lookup on pgbench_accounts)
#     audit.select_only.no_audit         nothing audited, pgaudit.log = none
#     audit.select_only.pg_privacy_reads privacy.audit_table('pgbench_accounts', reads => true):
#                                        one SELECT event a statement, through the shared-memory
#                                        queue that the background worker flushes into audit_log
#     audit.select_only.pgaudit_read     pgaudit.log = 'read'
# pg_privacy's audit is switched on (audit_table) just before each of its runs and off
# (unaudit_table) just after; pgaudit's class is set for its runs only, with PGOPTIONS for the
# pgbench connections (-c pgaudit.log=...), so nothing stays set after the case. pgaudit needs
# shared_preload_libraries: bench/run preloads it when its library is installed; otherwise its
# rows are skipped and show as MISSING in the report.
#
# For each workload: an untimed warm-up of each side (BENCH_PGBENCH_WARMUP, default 5 s), then
# $REPS timed runs of each side (BENCH_PGBENCH_SECONDS, default 10 s) in alternating order
# (none, pg_privacy, pgaudit, pgaudit, pg_privacy, none, ...); each side's median TPS is recorded
# as ms per transaction, so that the comparison peer/ours is the TPS ratio.
#
# Checks (the audit must really be on): after each pg_privacy run, the audit rows it wrote
# (INSERT/UPDATE/DELETE rows of privacy.audit_log; 4 a TPC-B transaction) or, after
# privacy.audit_flush(), its SELECT events on pgbench_accounts (one a select-only transaction).
# None at all fails the case; a count off by more than 1% from the expected one is a WARNING.
# The same for pgaudit: its AUDIT lines in the server log (4 and 1 a transaction). The figures
# go to the comparisons' notes. privacy.audit_log is append-only, so its rows stay.

PGBENCH_SECONDS=${BENCH_PGBENCH_SECONDS:-10}
PGBENCH_WARMUP=${BENCH_PGBENCH_WARMUP:-5}
SCALE=${BENCH_AUDIT_SCALE:-10}
MODE=${BENCH_AUDIT_MODE:-simple}
[[ "$PGBENCH_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_PGBENCH_SECONDS must be a positive integer"
[[ "$PGBENCH_WARMUP" =~ ^[0-9]+$ ]] || die "BENCH_PGBENCH_WARMUP must be a non-negative integer"
[[ "$SCALE" =~ ^[1-9][0-9]*$ ]] || die "BENCH_AUDIT_SCALE must be a positive integer"
[[ "$MODE" =~ ^(simple|extended|prepared)$ ]] || die "BENCH_AUDIT_MODE must be simple, extended or prepared"

# ---------------------------------------------------------------------------------------------
# What is there: pg_privacy's audit (required), pgaudit (the peer, if preloaded).

audit_api=$(bench_psql -At <<'SQL'
SELECT count(DISTINCT p.proname) = 3 AND to_regclass('privacy.audit_log') IS NOT NULL
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'privacy' AND p.proname IN ('audit_table', 'unaudit_table', 'audit_flush')
SQL
)
[ "$audit_api" = t ] || die "$BENCH_CASE: the installed pg_privacy has no audit (privacy.audit_table, \
unaudit_table, audit_flush, audit_log): build and install it (bench/run without --skip-build)"

PGAUDIT_SO="$(pg_config --pkglibdir)/pgaudit.so"
PGAUDIT=""   # the version when pgaudit is measured, empty when not
if [ "$(bench_psql -Atc "SELECT 'pgaudit' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))")" = t ]; then
  PGAUDIT=$(bench_psql -Atc "SELECT coalesce((SELECT default_version FROM pg_available_extensions WHERE name = 'pgaudit'), '?')")
  SIDES=(none privacy pgaudit)
else
  if [ -f "$PGAUDIT_SO" ]; then
    PGAUDIT_MISSING="pgaudit is installed but the server did not preload it"
  else
    PGAUDIT_MISSING="pgaudit is not installed (no $PGAUDIT_SO; Debian package postgresql-15-pgaudit)"
  fi
  say "$BENCH_CASE: $PGAUDIT_MISSING: its rows are skipped (MISSING in the report)"
  SIDES=(none privacy)
fi

SERVER_LOG="$BENCH_DIR/server.log"   # where pgaudit writes (bench/run starts the server with pg_ctl -l)

# ---------------------------------------------------------------------------------------------
# The pgbench tables.

say "$BENCH_CASE: pgbench -i -s $SCALE"
init_out=$("$PG_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -i -q -s "$SCALE" bench 2>&1) \
  || { echo "$init_out" >&2; die "pgbench -i failed"; }
bench_psql -c "CHECKPOINT"

TABLES="ARRAY['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history']::regclass[]"

audit_on() {  # WORKLOAD
  local sql
  if [ "$1" = tpcb ]; then sql="SELECT privacy.audit_table(t) FROM unnest($TABLES) t"
  else sql="SELECT privacy.audit_table('pgbench_accounts', reads => true)"; fi
  bench_psql -Atc "$sql" >/dev/null || die "$BENCH_CASE: $sql failed"
}
audit_off() {  # WORKLOAD
  local sql
  if [ "$1" = tpcb ]; then sql="SELECT privacy.unaudit_table(t) FROM unnest($TABLES) t"
  else sql="SELECT privacy.unaudit_table('pgbench_accounts')"; fi
  bench_psql -Atc "$sql" >/dev/null || die "$BENCH_CASE: $sql failed"
}
audit_flush() {  # waits for the worker to write the queued read events; 2 minutes at most
  bench_psql -At -c "SET statement_timeout = '2min'" -c "SELECT privacy.audit_flush()" >/dev/null \
    || die "$BENCH_CASE: privacy.audit_flush() failed or did not return within 2 minutes: the background \
worker did not write the queued read events (privacy.status()->'audit_queue'; $SERVER_LOG)"
}
audit_max_id() { bench_psql -Atc "SELECT coalesce(max(id), 0) FROM privacy.audit_log"; }
log_size() { stat -c %s "$SERVER_LOG" 2>/dev/null || echo 0; }

declare -A PGAUDIT_CLASS=([tpcb]=write [select]=read)
declare -A EXPECTED=([tpcb]=4 [select]=1)   # audit rows (and pgaudit lines) per transaction
declare -A RUNS=() AUD_ROWS=() AUD_XACTS=() PGA_LINES=() PGA_XACTS=()

# warn_off COUNT XACTS EXPECTED WHAT: a WARNING when COUNT is more than 1% away from XACTS x EXPECTED.
warn_off() {
  awk -v n="$1" -v x="$2" -v e="$3" 'BEGIN { exit !(x > 0 && (n / (x * e) < 0.99 || n / (x * e) > 1.01)) }' \
    && echo "WARNING: $BENCH_CASE: $4: $1 for $2 transactions, expected $3 a transaction"
  return 0
}

# run_side WORKLOAD SIDE SECONDS: one pgbench run; sets TPS and checks that the side's audit wrote.
run_side() {
  local w=$1 side=$2 secs=$3 opts="" out before=0 from=0 xacts failed n
  local args=(-h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -M "$MODE" -c 2 -j 2 -T "$secs")
  [ "$w" = select ] && args+=(-S)
  case "$side" in
    privacy)
      audit_on "$w"
      if [ "$w" = select ]; then audit_flush; fi
      before=$(audit_max_id) ;;
    pgaudit)
      opts="-c pgaudit.log=${PGAUDIT_CLASS[$w]}"
      from=$(log_size) ;;
  esac
  # pgbench vacuums pgbench_branches and _tellers and truncates pgbench_history before each run
  # (no -n), so that every run starts from the same tables.
  out=$(PGOPTIONS="$opts" "$PG_BINDIR/pgbench" "${args[@]}" bench 2>&1) \
    || { echo "$out" >&2; die "pgbench ($w, $side) failed"; }
  TPS=$(sed -n -E 's/^tps = ([0-9.]+) .*/\1/p' <<<"$out" | head -n1)
  xacts=$(sed -n -E 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$out" | head -n1)
  failed=$(sed -n -E 's/^number of failed transactions: ([0-9]+).*/\1/p' <<<"$out" | head -n1)
  [[ -n "$TPS" && -n "$xacts" ]] || { echo "$out" >&2; die "pgbench ($w, $side) printed no tps"; }
  [ "${failed:-0}" = 0 ] || echo "WARNING: $BENCH_CASE: $failed failed transactions in pgbench ($w, $side)"
  case "$side" in
    privacy)
      if [ "$w" = tpcb ]; then
        n=$(bench_psql -Atc "SELECT count(*) FROM privacy.audit_log
                              WHERE id > $before AND action IN ('INSERT', 'UPDATE', 'DELETE')")
      else
        audit_flush
        n=$(bench_psql -Atc "SELECT count(*) FROM privacy.audit_log
                              WHERE id > $before AND action = 'SELECT' AND object LIKE '%pgbench_accounts'")
      fi
      audit_off "$w"
      [ "$n" -gt 0 ] || die "$BENCH_CASE: pg_privacy's audit wrote NOTHING during pgbench ($w): $xacts \
transactions, 0 audit rows (INSERT/UPDATE/DELETE for tpcb, SELECT on pgbench_accounts after audit_flush() for select)"
      warn_off "$n" "$xacts" "${EXPECTED[$w]}" "pg_privacy audit rows ($w)"
      AUD_ROWS[$w]=$(( ${AUD_ROWS[$w]:-0} + n )); AUD_XACTS[$w]=$(( ${AUD_XACTS[$w]:-0} + xacts )) ;;
    pgaudit)
      if [ -r "$SERVER_LOG" ]; then
        n=$(tail -c +"$((from + 1))" "$SERVER_LOG" | grep -c 'AUDIT: SESSION,' || true)
        [ "$n" -gt 0 ] || die "$BENCH_CASE: pgaudit wrote nothing to $SERVER_LOG during pgbench ($w, pgaudit.log = ${PGAUDIT_CLASS[$w]})"
        warn_off "$n" "$xacts" "${EXPECTED[$w]}" "pgaudit log lines ($w)"
        PGA_LINES[$w]=$(( ${PGA_LINES[$w]:-0} + n )); PGA_XACTS[$w]=$(( ${PGA_XACTS[$w]:-0} + xacts ))
      fi ;;
  esac
  return 0
}

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# per_xact COUNT XACTS: COUNT / XACTS, two decimals ("-" without transactions)
per_xact() { awk -v n="${1:-0}" -v x="${2:-0}" 'BEGIN { if (x > 0) printf "%.2f", n / x; else printf "-" }'; }

declare -A LABEL=(
  [tpcb.none]=audit.tpcb.no_audit [tpcb.privacy]=audit.tpcb.pg_privacy
  [tpcb.pgaudit]=audit.tpcb.pgaudit_write
  [select.none]=audit.select_only.no_audit [select.privacy]=audit.select_only.pg_privacy_reads
  [select.pgaudit]=audit.select_only.pgaudit_read)
declare -A WHAT=(
  [tpcb.none]="no audit" [tpcb.privacy]="privacy.audit_table on the 4 pgbench tables"
  [tpcb.pgaudit]="pgaudit.log = write"
  [select.none]="no audit" [select.privacy]="privacy.audit_table('pgbench_accounts', reads => true)"
  [select.pgaudit]="pgaudit.log = read")
declare -A PGBENCH_SCRIPT=([tpcb]="-b tpcb-like" [select]="-S")

for w in tpcb select; do
  say "$BENCH_CASE: pgbench ${PGBENCH_SCRIPT[$w]}: ${SIDES[*]}, ${PGBENCH_WARMUP} s warm-up and $REPS x ${PGBENCH_SECONDS} s each"
  if [ "$PGBENCH_WARMUP" -gt 0 ]; then
    for side in "${SIDES[@]}"; do run_side "$w" "$side" "$PGBENCH_WARMUP"; done
  fi
  for ((i = 1; i <= REPS; i++)); do
    order=()   # odd repetitions in SIDES' order, even ones reversed
    for side in "${SIDES[@]}"; do if ((i % 2)); then order+=("$side"); else order=("$side" "${order[@]}"); fi; done
    for side in "${order[@]}"; do
      run_side "$w" "$side" "$PGBENCH_SECONDS"
      RUNS[$w.$side]+=" $TPS"
    done
  done

  declare -A med=()
  for side in "${SIDES[@]}"; do
    # shellcheck disable=SC2086
    med[$side]=$(median ${RUNS[$w.$side]})
    # Recorded as ms per transaction (over 2 clients): 1000 / TPS.
    # shellcheck disable=SC2086
    times=$(printf '%s\n' ${RUNS[$w.$side]} | awk '{ printf "%s%.6f", (NR > 1 ? "," : ""), 1000 / $1 }')
    # shellcheck disable=SC2086
    bench_record "${LABEL[$w.$side]}" "$(awk -v t="${med[$side]}" 'BEGIN { printf "%.6f", 1000 / t }')" 1 "" \
      "$times" "pgbench ${PGBENCH_SCRIPT[$w]} -M $MODE -c 2 -j 2 -T $PGBENCH_SECONDS, scale $SCALE: ${WHAT[$w.$side]}" \
      | sed "s/\$/  TPS: median $(printf '%.0f' "${med[$side]}"), runs$(printf ' %.0f' ${RUNS[$w.$side]})/"
  done

  ours_rows=$(per_xact "${AUD_ROWS[$w]:-0}" "${AUD_XACTS[$w]:-0}")
  if [ "$w" = tpcb ]; then
    what="TPC-B-like (pgbench default script)"
    target=">= 0.85"
    check="audit rows per transaction $ours_rows (${AUD_ROWS[$w]:-0} INSERT/UPDATE rows for ${AUD_XACTS[$w]:-0} transactions; 4 expected: 3 UPDATEs, 1 INSERT)"
  else
    what="select-only (pgbench -S)"
    target=">= 0.95"
    # The read queue's counters (events dropped when it was full, producers that waited).
    queue=$(bench_psql -Atc "SELECT coalesce(privacy.status()->'audit_queue', privacy.status()->'audit')::text")
    check="SELECT events on pgbench_accounts in privacy.audit_log after audit_flush(): ${AUD_ROWS[$w]:-0} for ${AUD_XACTS[$w]:-0} transactions ($ours_rows a transaction, 1 expected); read queue: ${queue:-?}"
  fi
  echo "  $BENCH_CASE: $w: $check"
  setup="pgbench -M $MODE -c 2 -j 2, scale $SCALE, ${PGBENCH_SECONDS} s runs"
  note_ours=$(printf '%s, %s: median TPS %.0f with %s vs %.0f without; the ratio is TPS(audited) / TPS(no audit); %s' \
    "$what" "$setup" "${med[privacy]}" "${WHAT[$w.privacy]}" "${med[none]}" "$check")
  if [ -n "$PGAUDIT" ]; then
    pga_lines=""
    [ -n "${PGA_XACTS[$w]:-}" ] && pga_lines="; $(per_xact "${PGA_LINES[$w]}" "${PGA_XACTS[$w]}") AUDIT log lines a transaction (${EXPECTED[$w]} expected)"
    note_pga=$(printf 'for reference: pgaudit %s, pgaudit.log = %s (statements to the server log): median TPS %.0f vs %.0f without%s' \
      "$PGAUDIT" "${PGAUDIT_CLASS[$w]}" "${med[pgaudit]}" "${med[none]}" "$pga_lines")
    note_vs=$(printf 'for reference: pg_privacy (%s) vs pgaudit (log = %s): TPS %.0f vs %.0f; the ratio is TPS(pg_privacy) / TPS(pgaudit)' \
      "${WHAT[$w.privacy]}" "${PGAUDIT_CLASS[$w]}" "${med[privacy]}" "${med[pgaudit]}")
    echo "  $BENCH_CASE: $w: pgaudit${pga_lines#;}"
  else
    note_pga="pgaudit not measured: $PGAUDIT_MISSING"
    note_vs="pgaudit not measured: $PGAUDIT_MISSING"
  fi
  bench_psql -v case="$BENCH_CASE" -v ours="${LABEL[$w.privacy]}" -v none="${LABEL[$w.none]}" \
    -v pga="${LABEL[$w.pgaudit]}" -v target="$target" -v n_ours="$note_ours" -v n_pga="$note_pga" \
    -v n_vs="$note_vs" <<'SQL'
INSERT INTO bench.ratio_targets (case_name, label, peer_label, target, note, direction) VALUES
  (:'case', :'ours', :'none', :'target', :'n_ours', NULL),
  (:'case', :'pga', :'none', NULL, :'n_pga', 'peer/ours'),
  (:'case', :'ours', :'pga', NULL, :'n_vs', 'peer/ours');
SQL
  unset med
done

# Nothing stays audited (audit_off after every run) and pgaudit.log was set per connection only.
left=$(bench_psql -Atc "SELECT count(*) FROM privacy.audited_tables WHERE tbl::text LIKE 'pgbench%'" 2>/dev/null || echo "?")
[ "$left" = 0 ] || [ "$left" = "?" ] || echo "WARNING: $BENCH_CASE: $left pgbench tables still audited"
