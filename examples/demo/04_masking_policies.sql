-- Chapter 4: masking policies. One masked view per table; each reader sees what their role allows.
--
-- Rules say how a column is shown: a default mask for everyone, and per role another mask or
-- the plain value. pg_privacy turns them into a view, masked.<table>, whose plan holds the
-- branch the current role gets. Roles read the view; only the view reads the table.

\pset null '(null)'

-- The people: agent_alice (tier 1, chapter 1), supervisor_bob in supervisors (chapter 2), and
-- now an analyst who reports on the desk without seeing anyone.
CREATE ROLE analysts NOLOGIN;
CREATE ROLE analyst_carol LOGIN IN ROLE analysts;

-- Default masks: what every reader sees unless a rule for one of their roles says otherwise.
-- A mask is one SQL expression over the table's columns; cards are read from the encrypted
-- column with the context they were encrypted with (chapter 2).
SELECT privacy.mask_column('desk.customers', 'full_name', 'privacy.mask_name(full_name)');
SELECT privacy.mask_column('desk.customers', 'email', 'privacy.mask_email(email)');
SELECT privacy.mask_column('desk.customers', 'phone', 'privacy.mask_phone(phone)');
SELECT privacy.mask_column('desk.customers', 'birth_date', $$privacy.generalize(birth_date, 'decade')$$);
SELECT privacy.mask_column('desk.customers', 'card_enc',
                           'privacy.mask_card(privacy.try_decrypt(card_enc, id::text))');
SELECT privacy.mask_column('desk.customers', 'my_number_enc', 'NULL');

-- Supervisors see names, e-mail addresses and phones as stored, and the whole card number
-- (their decrypt grant from chapter 2 makes try_decrypt return it). The card gets a mask that
-- passes the context rather than unmask_column, which would decrypt without one.
SELECT privacy.unmask_column('desk.customers', 'full_name', 'supervisors');
SELECT privacy.unmask_column('desk.customers', 'email', 'supervisors');
SELECT privacy.unmask_column('desk.customers', 'phone', 'supervisors');
SELECT privacy.mask_column('desk.customers', 'card_enc', 'privacy.try_decrypt(card_enc, id::text)',
                           for_role => 'supervisors');

-- Analysts get a pseudonym instead of the e-mail address (the same customer always gets the same
-- token, so they can still count and join; key 'analytics' is from chapter 3), and no name.
SELECT privacy.mask_column('desk.customers', 'email', $$privacy.pseudonymize(email, 'analytics')$$,
                           for_role => 'analysts');
SELECT privacy.mask_column('desk.customers', 'full_name', 'NULL', for_role => 'analysts');

-- Masks are checked by PostgreSQL's parser when the rule is made, never at query time: only
-- functions of privacy and pg_catalog, no subqueries, a result that fits the column's type.
-- And only privacy_admin (or a superuser) makes rules.
\set ON_ERROR_STOP 0
SELECT privacy.mask_column('desk.customers', 'email', '(SELECT email FROM desk.customers LIMIT 1)');
SELECT privacy.mask_column('desk.customers', 'birth_date', 'privacy.mask_email(email)');
SET ROLE agent_alice;
SELECT privacy.unmask_column('desk.customers', 'email', 'agent_alice');
RESET ROLE;
\set ON_ERROR_STOP 1

-- The view is the one door. Readers get SELECT on it; the base table is closed to them.
GRANT SELECT ON masked.customers TO agent_alice, supervisors, analysts;
REVOKE SELECT ON desk.customers FROM agent_alice, supervisors;

-- The same query, three readers, three answers. The view keeps the table's column names and
-- order; card_enc is shown decrypted (as text), as each reader's mask allows.
SET ROLE agent_alice;
SELECT id, full_name, email, phone, birth_date, card_enc AS card
  FROM masked.customers WHERE id IN (1, 2, 13) ORDER BY id;
RESET ROLE;
-- (Alice has no decrypt grant: try_decrypt gives her NULL, so not even the last four digits.)
SET ROLE supervisor_bob;
SELECT id, full_name, email, phone, birth_date, card_enc AS card
  FROM masked.customers WHERE id IN (1, 2, 13) ORDER BY id;
RESET ROLE;
SET ROLE analyst_carol;
SELECT id, full_name, email, phone, birth_date, card_enc AS card
  FROM masked.customers WHERE id IN (1, 2, 13) ORDER BY id;
RESET ROLE;

-- The base table is no longer hers to read.
SET ROLE agent_alice;
\set ON_ERROR_STOP 0
SELECT id, email FROM desk.customers WHERE id = 1;
\set ON_ERROR_STOP 1
RESET ROLE;

-- Tickets: bodies are free text full of PII. Agents read them redacted, supervisors as
-- written, analysts not at all.
SELECT privacy.mask_column('desk.tickets', 'body', 'privacy.redact(body)');
SELECT privacy.unmask_column('desk.tickets', 'body', 'supervisors');
SELECT privacy.mask_column('desk.tickets', 'body', 'NULL', for_role => 'analysts');
GRANT SELECT ON masked.tickets TO agent_alice, supervisors, analysts;

SET ROLE agent_alice;
SELECT id, status, left(body, 60) AS body FROM masked.tickets WHERE id IN (1, 6) ORDER BY id;
RESET ROLE;
SET ROLE supervisor_bob;
SELECT id, status, left(body, 60) AS body FROM masked.tickets WHERE id IN (1, 6) ORDER BY id;
RESET ROLE;
SET ROLE analyst_carol;
SELECT id, status, left(body, 60) AS body FROM masked.tickets WHERE id IN (1, 6) ORDER BY id;
-- Analysts still count and group: columns without rules pass through unchanged.
SELECT channel, status, count(*) FROM masked.tickets GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 4;
RESET ROLE;

-- Columns without rules are updatable through the view; masked ones are read-only for everyone.
GRANT UPDATE (status) ON masked.tickets TO agent_alice;
BEGIN;
SET LOCAL ROLE agent_alice;
UPDATE masked.tickets SET status = 'closed' WHERE id = 1;
\set ON_ERROR_STOP 0
UPDATE masked.tickets SET body = 'x' WHERE id = 1;
\set ON_ERROR_STOP 1
ROLLBACK;

-- All the rules, in one place (readable by everyone).
SELECT "table", "column", role, kind, mask, priority
  FROM privacy.masking_rules ORDER BY "table"::text, "column", role IS NOT NULL, role::text;

-- DDL: the view follows the table. A new column appears in it at once (grants kept), and can be
-- masked like any other.
ALTER TABLE desk.customers ADD COLUMN vip_note text;
UPDATE desk.customers SET vip_note = 'Prefers calls to ' || phone WHERE id = 1;
SELECT privacy.mask_column('desk.customers', 'vip_note', 'privacy.redact(vip_note)');
SET ROLE agent_alice;
SELECT id, vip_note FROM masked.customers WHERE id = 1;
RESET ROLE;
-- Dropping the column forgets its rules; the view is rebuilt and keeps its grants.
ALTER TABLE desk.customers DROP COLUMN vip_note;
SELECT count(*) AS vip_note_rules FROM privacy.masking_rules WHERE "column" = 'vip_note';
\dp masked.customers

-- Performance. The planner decides each reader's branch and folds it into the plan: Alice's
-- plan calls her masks, Bob's reads the columns, nothing is decided per row or per query. A
-- lookup by an unmasked key still uses the primary key index: the view is a security barrier,
-- but = on an integer is leakproof, so PostgreSQL pushes it down to the scan.
SET ROLE agent_alice;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, full_name, email FROM masked.customers WHERE id = 42;
RESET ROLE;
SET ROLE supervisor_bob;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, full_name, email FROM masked.customers WHERE id = 42;
RESET ROLE;

-- Static masking: a copy for a test environment, masked in place with its default masks, in
-- batches by primary key (progress in privacy.jobs). Irreversible, so never on the original.
CREATE TABLE desk.customers_export AS SELECT id, full_name, email, phone FROM desk.customers;
ALTER TABLE desk.customers_export ADD PRIMARY KEY (id);
SELECT privacy.mask_column('desk.customers_export', 'full_name', 'privacy.mask_name(full_name)');
SELECT privacy.mask_column('desk.customers_export', 'email', $$privacy.pseudonymize(email, 'analytics')$$);
SELECT privacy.mask_column('desk.customers_export', 'phone', 'NULL');
SELECT privacy.anonymize_table('desk.customers_export', batch_size => 200) AS rows_masked;
SELECT * FROM desk.customers_export WHERE id IN (1, 2, 13) ORDER BY id;
SELECT kind, target, rows_done, state FROM privacy.jobs WHERE kind = 'anonymize_table';
DROP TABLE desk.customers_export;
