-- Chapter 6: the access audit. Who changed, read, decrypted or saw unmasked what, when and from
-- where, in a log that nobody can edit without it showing.
--
-- Changes to an audited table are written by its triggers, in the changing transaction: one
-- audit row per changed row, with the values *after the table's default masks*, so the log never
-- becomes a second copy of the personal data. Reads, decrypts and unmasked reads are noted as
-- they happen and reach the log through a shared-memory queue that the background worker
-- flushes: a read that is rolled back still happened, and stays on record. The worker then seals
-- the log into hash-chained blocks, and privacy.audit_verify() recomputes every hash.

\pset null '(null)'

-- The log has been on since CREATE EXTENSION. The keys, grants, masking rules, retention
-- policies, holds and runs of chapters 2 to 5 are in it already, with who made them, and so are
-- the decrypts and the unmasked reads of masked views.
SELECT action, count(*) AS events, string_agg(DISTINCT "current_role", ', ') AS by_roles
  FROM privacy.audit_log GROUP BY action ORDER BY min(id);

-- Audit the customers table: every change, and (reads => true) every statement that reads one
-- of its personal columns. Only columns with a default mask (chapter 4) are listed: the log
-- shows audited columns after those masks, and a column without one would appear as stored.
-- Tickets: changes only, of their status and assignment.
SELECT privacy.audit_table('desk.customers',
           columns => '{full_name,email,phone,birth_date,card_enc,my_number_enc}', reads => true);
SELECT privacy.audit_table('desk.tickets', columns => '{status,assigned_agent_id}');
SELECT tbl, columns, reads, created_by FROM privacy.audited_tables ORDER BY tbl::text;

-- Auditing is for privacy_admin; views are audited through the tables they read.
\set ON_ERROR_STOP 0
SELECT privacy.audit_table('masked.customers');
SET ROLE agent_alice;
SELECT privacy.unaudit_table('desk.customers');
RESET ROLE;
\set ON_ERROR_STOP 1

-- Alice works a ticket. Agents correct contact details in the table itself (masked columns are
-- read-only in the view): UPDATE on two columns, and SELECT on id to find the row.
GRANT SELECT (id), UPDATE (email, phone) ON desk.customers TO agent_alice;

-- The desk's application says who is behind each request with privacy.app_user: with a pooled
-- connection the role alone would not tell. SET ROLE gives the request the agent's privileges.
SET privacy.app_user = 'alice@desk.example.com';
SET ROLE agent_alice;
-- A read of personal columns, through the masked view: a SELECT event on desk.customers. The
-- card is masked through try_decrypt, which Alice's role may not use: a DECRYPT_DENIED event.
SELECT id, full_name, email, phone, card_enc AS card FROM masked.customers WHERE id = 1;
-- Two changes: one audit row each, in this transaction, with masked old and new values.
UPDATE desk.customers SET email = 'taro.yamada@mail.example.jp', phone = '080-2468-1357'
 WHERE id = 1;
UPDATE masked.tickets SET status = 'pending' WHERE id = 1;
-- Reading no audited column is no event; neither is count(*), which reads no column at all.
SELECT country, count(*) FROM masked.customers GROUP BY country ORDER BY count(*) DESC LIMIT 3;
-- A read in a transaction that rolls back: the data was seen all the same.
BEGIN;
SELECT id, full_name, email FROM masked.customers WHERE id = 13;
ROLLBACK;
RESET ROLE;

-- Read events reach the log within privacy.audit_flush_interval (200 ms). audit_flush() waits
-- until every event queued before it is in the log (tests and demos; nobody needs it otherwise).
SELECT privacy.audit_flush() >= 0 AS flushed;

-- Alice's session, as the log has it, in the order it happened (logged_at: ids follow the order
-- rows were written, and read events are written by the worker a moment later): who (login
-- role, role in effect, app_user), what, and how many rows. The rolled-back read is there; the
-- country count is not.
SELECT id, action, object, columns, row_key, rows, session_role, "current_role", app_user
  FROM privacy.audit_log WHERE app_user = 'alice@desk.example.com' ORDER BY logged_at, id;
-- The change to customer 1, in full: each audited column after its default mask, the card and
-- Individual Number as the key version that encrypts them (never decrypted). The log shows that
-- the e-mail address and the phone number changed, not what they are now.
\x on
SELECT old_values, new_values FROM privacy.audit_log
 WHERE action = 'UPDATE' AND object = 'desk.customers' AND app_user = 'alice@desk.example.com';
\x off
SELECT count(*) AS audit_rows_with_the_new_email FROM privacy.audit_log l
 WHERE l::text LIKE '%taro.yamada@mail%';

-- Bob, a supervisor, reads customer 1 unmasked (his role's rules from chapter 4): an UNMASK event
-- names the columns he saw as stored. Then he pulls every card number on file.
SET privacy.app_user = 'bob@desk.example.com';
SET ROLE supervisor_bob;
SELECT id, full_name, email, card_enc AS card FROM masked.customers WHERE id = 1;
SELECT count(card_enc) AS cards_decrypted FROM masked.customers;
RESET ROLE;
RESET privacy.app_user;
-- An export by the DBA: COPY reads the table without the executor, and is audited as a read too.
COPY desk.customers (id, email) TO '/dev/null';
SELECT privacy.audit_flush() >= 0 AS flushed;

-- One decrypt event per statement and key, with the number of values: the card pull is one row.
SELECT id, action, object, columns, rows, "current_role", app_user, detail
  FROM privacy.audit_log WHERE id > (SELECT max(id) FROM privacy.audit_log
                                      WHERE app_user = 'alice@desk.example.com')
 ORDER BY id;

-- What an auditor does. privacy_auditor reads the log and its views, verifies, and changes
-- nothing.
SET ROLE privacy_auditor;

-- Sensitive access today, per role and app_user: audited reads, decrypts (granted and refused)
-- and unmasked reads, with the rows or values they touched.
SELECT "current_role", app_user, object, action, events, rows
  FROM privacy.sensitive_access WHERE day = (now() AT TIME ZONE 'UTC')::date
 ORDER BY 1, 2 NULLS FIRST, 3, 4;

-- Suspicious access: more than 100 sensitive accesses by one role and app_user in an hour (each
-- decrypted value counts). Bob's card pull stands out. (Re-encrypting the cards in chapter 2 was
-- no decrypt event: reencrypt returns ciphertext, never plaintext.)
SELECT "current_role", app_user, events, objects
  FROM privacy.suspicious_access(window_size => '1 hour', threshold => 100) ORDER BY events DESC;

-- Who read customers' e-mail addresses (an access review question; add a date range in real use).
SELECT "current_role", app_user, count(*) AS statements, sum(rows) AS rows
  FROM privacy.audit_log
 WHERE object = 'desk.customers' AND action IN ('SELECT', 'UNMASK') AND 'email' = ANY (columns)
 GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST;

-- Access review: every decrypt grant and role masking rule, and when it was last used. A grant
-- unused for 90 days is a candidate for revocation; here everything is minutes old.
SELECT object, privilege, grantee, detail, last_used_at IS NOT NULL AS used, days_unused
  FROM privacy.access_review ORDER BY object, grantee, detail;

-- The auditor can read, not write.
\set ON_ERROR_STOP 0
DELETE FROM privacy.audit_log WHERE app_user = 'bob@desk.example.com';
\set ON_ERROR_STOP 1
RESET ROLE;

-- Sealing. The worker seals committed rows into hash-chained blocks: each block's hash covers
-- the hashes of its rows and the previous block's hash. A row is sealed once every transaction
-- that could still commit a lower id has ended. Wait (at most 5 s) for the rows so far.
DO $$
DECLARE
    target bigint := (SELECT max(id) FROM privacy.audit_log);
    waited integer := 0;
BEGIN
    WHILE coalesce((SELECT max(last_id) FROM privacy.audit_seals), 0) < target LOOP
        IF waited >= 50 THEN
            RAISE EXCEPTION 'the worker did not seal the audit log within 5 s'
                USING HINT = 'Is pg_privacy in shared_preload_libraries? See privacy.status()->''worker''.';
        END IF;
        PERFORM pg_sleep(0.1);
        waited := waited + 1;
    END LOOP;
    RAISE NOTICE 'audit rows 1 to % are sealed', target;
END $$;
SELECT count(*) AS blocks, sum(row_count) AS rows_sealed, max(last_id) AS last_sealed_id
  FROM privacy.audit_seals;

-- Verification recomputes every row hash and every seal.
SELECT * FROM privacy.audit_verify();
-- The digest names the latest block and its hash. Keep it outside the database (a daily cron
-- job appending it to write-once storage): if the whole chain were ever rewritten, it would no
-- longer contain this hash.
--   psql -XAtc 'SELECT privacy.audit_digest()' support_desk >> /mnt/worm/pg_privacy-digests.log
SELECT privacy.audit_digest();

-- The table's owner cannot quietly switch the audit of its table off either: only
-- privacy.unaudit_table (a privacy_admin, and itself an audited event) can.
\set ON_ERROR_STOP 0
ALTER TABLE desk.customers DISABLE TRIGGER privacy_audit_update;
DROP TRIGGER privacy_audit_update ON desk.customers;
\set ON_ERROR_STOP 1

-- Tampering. Bob's card pull is awkward, so someone with superuser rights tries to make it
-- smaller. The log is append-only, for superusers too:
SELECT id AS pull_id FROM privacy.audit_log
 WHERE app_user = 'bob@desk.example.com' AND action = 'DECRYPT' AND rows > 100 \gset
\set ON_ERROR_STOP 0
UPDATE privacy.audit_log SET rows = 1 WHERE id = :pull_id;
DELETE FROM privacy.audit_log WHERE id = :pull_id;
\set ON_ERROR_STOP 1
-- ...but a superuser can switch the trigger off, change the sealed row, and switch it on again.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE privacy.audit_log SET rows = 1 WHERE id = :pull_id;
ALTER TABLE privacy.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
COMMIT;
SELECT id, action, rows, app_user FROM privacy.audit_log WHERE id = :pull_id;
-- Nothing could stop that, but verification names the row. (The demo database keeps the
-- tampered row: audit_verify() reports it from now on, as it should.)
SELECT * FROM privacy.audit_verify();

-- The queue that carries read events: its capacity (privacy.audit_queue_size), what is in it now,
-- and since the server started, how many events went in and out, how often a writer had to wait
-- for room, and how many were lost (none: a full queue makes writers wait).
SELECT jsonb_pretty(privacy.status()->'audit_queue');
