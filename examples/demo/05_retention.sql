-- Chapter 5: retention. Rows are kept as long as policy says, then deleted or anonymized by the
-- background worker, without anyone asking; legal holds keep what a dispute needs.
--
-- A policy names a table, its timestamp column and how long to keep rows. The worker (one per
-- database, started by pg_privacy itself) runs each policy on its schedule, in small batches,
-- each batch its own transaction, as the table's owner. Every run is recorded.

\pset null '(null)'

-- The desk keeps live-chat transcripts 30 days. Orders are kept for years (accounting), and
-- ticket bodies are kept 90 days as written, then only redacted. Today:
SELECT count(*) AS transcripts,
       count(*) FILTER (WHERE started_at < now() - interval '30 days') AS older_than_30_days
  FROM desk.chat_transcripts;
SELECT count(*) AS orders, min(ordered_at)::date AS oldest FROM desk.orders;

-- Customer 14 disputes a double card charge (ticket 8, chat 4). Legal asks to keep everything
-- about them until the dispute is settled: a legal hold per table, with a reason. The filter is
-- one boolean SQL expression over the table's columns, checked like a mask.
SELECT privacy.place_legal_hold('desk.chat_transcripts', 'customer_id = 14',
                                'Chargeback dispute CB-2291: keep until settled') AS chat_hold;
SELECT privacy.place_legal_hold('desk.tickets', 'customer_id = 14',
                                'Chargeback dispute CB-2291: keep until settled') AS ticket_hold;

-- A policy is live as soon as it commits, and the worker looks for due work every
-- privacy.worker_naptime. To look at what a new policy would do first, add it paused.
BEGIN;
SELECT privacy.add_retention_policy('chat_transcripts_30d', 'desk.chat_transcripts', 'started_at',
                                    '30 days', batch_size => 250);
SELECT privacy.set_retention_enabled('chat_transcripts_30d', false);
-- Anonymize instead of delete: the ticket stays (status, channel, dates still count), and its
-- default masks are written into it, once. Chapter 4 gave body the default mask
-- privacy.redact(body), so old bodies keep their words and lose their PII.
SELECT privacy.add_retention_policy('ticket_bodies_90d', 'desk.tickets', 'created_at', '90 days',
                                    action => 'anonymize', batch_size => 250);
SELECT privacy.set_retention_enabled('ticket_bodies_90d', false);
COMMIT;
-- Orders: seven years. Enabled at once; it finds nothing due in a three-year-old shop.
SELECT privacy.add_retention_policy('orders_7y', 'desk.orders', 'ordered_at', '7 years',
                                    schedule => '1 day');

SELECT name, tbl, time_column, keep, action, batch_size, schedule, enabled
  FROM privacy.retention_policies ORDER BY id;

-- Anonymizing needs default masks to write; chat transcripts have none. And only privacy_admin
-- manages policies and holds.
\set ON_ERROR_STOP 0
SELECT privacy.add_retention_policy('chats_anon', 'desk.chat_transcripts', 'started_at', '30 days',
                                    action => 'anonymize');
SET ROLE agent_alice;
SELECT privacy.release_legal_hold(1);
RESET ROLE;
\set ON_ERROR_STOP 1

-- A dry run counts and changes nothing: rows due now, and rows a legal hold keeps.
SELECT r.* FROM privacy.retention_policies p, privacy.run_retention(p.name, dry_run => true) r
 ORDER BY p.id;

-- Old ticket bodies still hold PII (detect_pii, chapter 3), e.g. the card number in ticket 10.
-- Ticket 2033 is customer 14's, so it is held.
SELECT count(*) AS tickets_older_than_90_days,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM privacy.detect_pii(t.body))) AS with_pii_in_body
  FROM desk.tickets t WHERE created_at < now() - interval '90 days';
SELECT id, customer_id, left(body, 44) AS body,
       (SELECT string_agg(DISTINCT category, ', ') FROM privacy.detect_pii(t.body)) AS pii_in_body
  FROM desk.tickets t WHERE id IN (10, 2033) ORDER BY id;

-- Go. Nobody runs the policies: the worker does, at its next wake-up. worker_wake() makes that
-- now (when this statement commits) instead of within privacy.worker_naptime.
SELECT privacy.set_retention_enabled('chat_transcripts_30d', true);
SELECT privacy.set_retention_enabled('ticket_bodies_90d', true);
SELECT privacy.worker_wake() AS worker_serves_this_database;

-- Wait (at most 10 s) until the worker has run every policy once.
DO $$
DECLARE
    waited integer := 0;
    failed text;
BEGIN
    WHILE (SELECT count(DISTINCT policy) FROM privacy.retention_runs
            WHERE run_by = 'pg_privacy worker' AND status <> 'running')
          < (SELECT count(*) FROM privacy.retention_policies) LOOP
        IF waited >= 100 THEN
            RAISE EXCEPTION 'the worker did not finish within 10 s'
                USING HINT = 'Is pg_privacy in shared_preload_libraries? See privacy.status()->''worker''.';
        END IF;
        PERFORM pg_sleep(0.1);
        waited := waited + 1;
    END LOOP;
    SELECT string_agg(policy || ': ' || error, '; ') INTO failed
      FROM privacy.retention_runs WHERE run_by = 'pg_privacy worker' AND status = 'error';
    IF failed IS NOT NULL THEN
        RAISE EXCEPTION 'a worker run failed: %', failed;
    END IF;
    RAISE NOTICE 'the worker has run every policy';
END $$;

-- After: old transcripts are gone except customer 14's, kept by the hold.
SELECT count(*) AS transcripts,
       count(*) FILTER (WHERE started_at < now() - interval '30 days') AS older_than_30_days
  FROM desk.chat_transcripts;
SELECT id, customer_id, started_at::date, left(transcript, 50) AS transcript
  FROM desk.chat_transcripts WHERE started_at < now() - interval '30 days' ORDER BY id;
-- Old ticket bodies are redacted in the table itself, except the held one.
SELECT count(*) AS tickets_older_than_90_days,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM privacy.detect_pii(t.body))) AS with_pii_in_body
  FROM desk.tickets t WHERE created_at < now() - interval '90 days';
SELECT id, customer_id, left(body, 44) AS body,
       (SELECT string_agg(DISTINCT category, ', ') FROM privacy.detect_pii(t.body)) AS pii_in_body
  FROM desk.tickets t WHERE id IN (10, 2033) ORDER BY id;
SELECT count(*) AS orders FROM desk.orders;

-- The record: one row per run, by the worker, batch by batch (each its own transaction).
SELECT policy, run_by, rows_processed, batches, status, rows_held, error,
       finished_at - started_at AS took
  FROM privacy.retention_runs ORDER BY id;
SELECT id, tbl, filter, reason, placed_by, released_at FROM privacy.legal_holds ORDER BY id;
-- Each policy runs again one schedule after its run finished.
SELECT name, schedule, round(extract(epoch FROM next_run_at - now()) / 60) AS next_run_in_minutes
  FROM privacy.retention_policies ORDER BY id;
-- The worker itself: its process, its state, when it last ran.
SELECT backend_type, application_name, state FROM pg_stat_activity
 WHERE backend_type LIKE 'pg_privacy%' ORDER BY backend_type;
SELECT jsonb_pretty(privacy.status()->'worker');

-- What an auditor reads (privacy_auditor can read the retention tables, and change nothing):
-- the last run of each policy.
SET ROLE privacy_auditor;
SELECT DISTINCT ON (policy) policy, run_by, status, rows_processed, rows_held, finished_at::date
  FROM privacy.retention_runs ORDER BY policy, id DESC;
RESET ROLE;

-- The dispute is settled: release the holds (they stay on record, with released_at). The next
-- scheduled run would take the rows they kept; run_retention does it now, in this transaction,
-- and records the run under the caller's name. The held ticket is anonymized exactly once.
SELECT privacy.release_legal_hold(id) FROM privacy.legal_holds WHERE released_at IS NULL;
SELECT * FROM privacy.run_retention();
SELECT id, customer_id, left(body, 44) AS body,
       (SELECT string_agg(DISTINCT category, ', ') FROM privacy.detect_pii(t.body)) AS pii_in_body
  FROM desk.tickets t WHERE id = 2033;
SELECT count(*) FILTER (WHERE started_at < now() - interval '30 days') AS older_than_30_days
  FROM desk.chat_transcripts;
SELECT policy, run_by, rows_processed, status FROM privacy.retention_runs ORDER BY id DESC LIMIT 3;
-- Runs show in privacy.jobs while they work (from any session), as re-encryption does.
SELECT kind, target, rows_done, state FROM privacy.jobs WHERE kind = 'retention' ORDER BY id;
