# requires: pg_privacy
#
# 50_retention: purging expired rows while the application works (BENCHMARKS.md, "retention").
#
# bench_events: BENCH_RETENTION_ROWS rows (default 5,000,000) with created_at spread over 0-100
# days and an index on created_at (a retention policy's time column should be indexed); the
# oldest BENCH_RETENTION_EXPIRED (default 1,000,000) are older than the policy's 80 days.
#
# The application: pgbench, 2 clients, a custom script on the recent rows (a point select, an
# update of a random recent row, an insert of a new row), at a fixed rate: BENCH_RETENTION_LOAD
# (default 30%) of the TPS the machine reaches flat out, measured first for 5 s. (Flat out, two
# clients already use both cores: any other work, a purge or not, then shows in their latency
# as CPU starvation.) First BENCH_RETENTION_IDLE seconds (default 15) without a purge: its p99
# latency (from each transaction's scheduled start, so queueing counts) is the idle value.
# Then the same pgbench again
# while the background worker purges (made due and woken with privacy.worker_wake(); a
# transaction per batch, privacy.retention_batch_pause between batches); the purge's time is
# its run's finished_at - started_at in privacy.retention_runs.
#
# Recorded (ms, rows):
#   retention.purge                     the purge's wall time for the expired rows
#   target.100k_rows_per_s              the time the same rows take at 100,000 rows/s
#   pgbench.p99.idle / .during_purge    p99 latency of the application's transactions (ms)
# Targets: purge time <= the 100k rows/s time; p99 during the purge <= 2 x idle.

RET_ROWS=${BENCH_RETENTION_ROWS:-5000000}
RET_EXPIRED=${BENCH_RETENTION_EXPIRED:-1000000}
RET_IDLE=${BENCH_RETENTION_IDLE:-15}
[[ "$RET_ROWS" =~ ^[1-9][0-9]*$ && "$RET_EXPIRED" =~ ^[1-9][0-9]*$ && "$RET_EXPIRED" -lt "$RET_ROWS" ]] \
  || die "BENCH_RETENTION_ROWS and BENCH_RETENTION_EXPIRED must be positive, expired < rows"

say "50_retention: loading $RET_ROWS rows into bench_events ($RET_EXPIRED expired)"
bench_psql -v rows="$RET_ROWS" -v expired="$RET_EXPIRED" <<'SQL'
DROP TABLE IF EXISTS bench_events;
CREATE TABLE bench_events (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, customer int NOT NULL,
                           payload text NOT NULL);
-- The expired rows are the oldest: 80-100 days; the others 0-79 days, newest last.
INSERT INTO bench_events
SELECT g,
       CASE WHEN g <= :expired
            THEN now() - interval '80 days' - (interval '20 days' * (:expired - g) / :expired) - interval '1 minute'
            ELSE now() - (interval '79 days' * (:rows - g) / (:rows - :expired)) END,
       g % 100000,
       repeat(md5(g::text), 3)
  FROM generate_series(1, :rows) g;
CREATE INDEX bench_events_created_at ON bench_events (created_at);
VACUUM (ANALYZE) bench_events;
SELECT privacy.add_retention_policy('events_80d', 'bench_events', 'created_at', '80 days',
                                    batch_size => 10000, schedule => '1 day');
-- Not due until the measured purge starts (the worker, if any, leaves it alone).
UPDATE privacy.retention_policies SET next_run_at = now() + interval '1 day' WHERE name = 'events_80d';
CHECKPOINT;
SQL

APP="$BENCH_DIR/$BENCH_CASE.app.pgbench"
cat >"$APP" <<EOF
\\set id random($((RET_EXPIRED + 1)), $RET_ROWS)
\\set newid random(1, 1000000000)
BEGIN;
SELECT customer, payload FROM bench_events WHERE id = :id;
UPDATE bench_events SET customer = customer + 1 WHERE id = :id;
INSERT INTO bench_events VALUES ($RET_ROWS + :newid, now(), :newid % 100000, 'new') ON CONFLICT DO NOTHING;
END;
EOF

# p99 of the per-transaction latencies (µs, third column) of pgbench -l logs, in ms.
p99_ms() { cat "$@" | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }'; }

run_app() {  # SECONDS LOG_PREFIX [RATE]: pgbench with per-transaction logs; prints its summary
  local secs=$1 prefix=$2 rate=${3:-}
  rm -f "$prefix".*
  (cd "$BENCH_DIR" && "$PG_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -n -M prepared -c 2 -j 2 \
     -T "$secs" -l --log-prefix="$prefix" ${rate:+-R "$rate"} -f "$APP" bench 2>&1)
}

LOAD=${BENCH_RETENTION_LOAD:-30}
cal_out=$(run_app 5 "$BENCH_DIR/$BENCH_CASE.calibrate") || { echo "$cal_out" >&2; die "pgbench (calibration) failed"; }
tps_max=$(sed -n -E 's/^tps = ([0-9.]+) .*/\1/p' <<<"$cal_out" | head -n1)
RATE=$(awk -v t="$tps_max" -v l="$LOAD" 'BEGIN { printf "%d", t * l / 100 }')
say "50_retention: the application flat out: $tps_max TPS; measured at $RATE TPS ($LOAD%)"

say "50_retention: the application alone for ${RET_IDLE} s"
idle_out=$(run_app "$RET_IDLE" "$BENCH_DIR/$BENCH_CASE.idle" "$RATE") || { echo "$idle_out" >&2; die "pgbench (idle) failed"; }
p99_idle=$(p99_ms "$BENCH_DIR/$BENCH_CASE.idle".*)
tps_idle=$(sed -n -E 's/^tps = ([0-9.]+) .*/\1/p' <<<"$idle_out" | head -n1)

say "50_retention: the application during the purge"
busy_secs=${BENCH_RETENTION_BUSY:-30}   # the purge must end within it (1M rows at 40k rows/s and more)
run_app "$busy_secs" "$BENCH_DIR/$BENCH_CASE.busy" "$RATE" >"$BENCH_DIR/$BENCH_CASE.pgbench-busy.txt" 2>&1 &
app_pid=$!
sleep 2
purge_from=$(date +%s)
# The background worker does the purge, as in production: due now, and woken.
purge_ms=$(bench_psql -At <<'SQL'
UPDATE privacy.retention_policies SET next_run_at = now() WHERE name = 'events_80d';
SELECT privacy.worker_wake() \gset
DO $$
DECLARE
  deadline timestamptz := clock_timestamp() + interval '10 minutes';
BEGIN
  LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM privacy.retention_runs WHERE policy = 'events_80d' AND status <> 'running');
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'the worker did not finish the purge within 10 minutes (see privacy.status())';
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT round(extract(epoch FROM finished_at - started_at) * 1000, 1)
  FROM privacy.retention_runs WHERE policy = 'events_80d' ORDER BY id DESC LIMIT 1;
SQL
)
purge_to=$(date +%s)
# pgbench runs to its end; the part after the purge is idle again, so only the transactions
# that ran during the purge count.
wait "$app_pid" || { cat "$BENCH_DIR/$BENCH_CASE.pgbench-busy.txt" >&2; die "pgbench (during the purge) failed"; }
busy_out=$(cat "$BENCH_DIR/$BENCH_CASE.pgbench-busy.txt")
# pgbench log lines: client_id transaction_no time_us script_no time_epoch time_us_fraction;
# keep the transactions that ran while the purge did.
cat "$BENCH_DIR/$BENCH_CASE.busy".* | awk -v from="$purge_from" -v to="$purge_to" '$5 >= from && $5 <= to' \
  >"$BENCH_DIR/$BENCH_CASE.during"
[ -s "$BENCH_DIR/$BENCH_CASE.during" ] || die "no application transaction ran during the purge"
p99_busy=$(p99_ms "$BENCH_DIR/$BENCH_CASE.during")
failed=$(sed -n -E 's/^number of failed transactions: ([0-9]+).*/\1/p' <<<"$busy_out" | head -n1)
left=$(bench_psql -At -c "SELECT count(*) FROM bench_events WHERE created_at < now() - interval '80 days'")
purged=$(bench_psql -At -c "SELECT rows_processed FROM privacy.retention_runs WHERE policy = 'events_80d' ORDER BY id DESC LIMIT 1")
status=$(bench_psql -At -c "SELECT status FROM privacy.retention_runs WHERE policy = 'events_80d' ORDER BY id DESC LIMIT 1")
[ "$status" = ok ] || die "the purge ended with status $status"
[ "$left" = 0 ] || echo "WARNING: $BENCH_CASE: $left expired rows left after the purge"
[ "${failed:-0}" = 0 ] || echo "WARNING: $BENCH_CASE: $failed application transactions failed during the purge"

rate=$(awk -v n="$purged" -v ms="$purge_ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
bench_record retention.purge "$purge_ms" "$purged" "" "" "the background worker's run, batch_size 10000, $purged rows" \
  | sed "s/\$/  ($rate rows\/s)/"
bench_record target.100k_rows_per_s "$(awk -v n="$purged" 'BEGIN { printf "%.3f", n / 100 }')" "$purged" "" "" \
  "the time $purged rows take at 100,000 rows/s" >/dev/null
bench_record pgbench.p99.idle "$p99_idle" 1 "" "" "p99 latency, pgbench -M prepared -c 2 -R $RATE, ${RET_IDLE} s, no purge" \
  | sed "s/\$/  (p99 ms; $tps_idle TPS at -R $RATE; flat out $tps_max)/"
bench_record pgbench.p99.during_purge "$p99_busy" 1 "" "" "p99 latency of the transactions that started during the purge" \
  | sed "s/\$/  (p99 ms; failed transactions: ${failed:-0})/"

bench_psql -v case="$BENCH_CASE" -v rate="$rate" <<'SQL'
INSERT INTO bench.ratio_targets (case_name, label, peer_label, target, note) VALUES
  (:'case', 'retention.purge', 'target.100k_rows_per_s', '<= 1',
   format('purge of the expired rows of a 5M-row table while pgbench runs: %s rows/s (target >= 100,000)', :'rate')),
  (:'case', 'pgbench.p99.during_purge', 'pgbench.p99.idle', '<= 2',
   'p99 latency of the application''s transactions during the purge vs idle');
SQL
