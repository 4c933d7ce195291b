-- Chapter 1: installing pg_privacy and checking that it is healthy.
--
-- The server runs with shared_preload_libraries = 'pg_privacy' and
--   privacy.root_key_command = 'cat .../root.key'
-- The command printed "<key-id> <64 hex>" once, at server start; the root key now lives only
-- in server process memory: never in a table, a setting or a log line.

CREATE EXTENSION pg_privacy;

-- What a DBA checks first: is the library preloaded, is the root key loaded?
SELECT jsonb_pretty(privacy.status());

-- The fingerprint is one-way: equal fingerprints on two clusters mean the same root key, so an
-- encrypted dump will restore there. It never reveals the key.
SELECT privacy.root_key_fingerprint();

-- The settings, with their defaults. The root key command is visible to superusers only.
SELECT name, current_setting(name) AS value, context, short_desc
  FROM pg_settings WHERE name LIKE 'privacy.%' ORDER BY name;

-- Two roles come with the extension. Neither can log in; grant them to people.
SELECT rolname, rolcanlogin, shobj_description(oid, 'pg_authid') AS purpose
  FROM pg_roles WHERE rolname LIKE 'privacy\_%' ORDER BY rolname;

-- An agent can check the status but not fingerprint the key.
CREATE ROLE agent_alice LOGIN;
SET ROLE agent_alice;
SELECT privacy.status()->'root_key'->>'loaded' AS root_key_loaded;
\set ON_ERROR_STOP 0
SELECT privacy.root_key_fingerprint();
\set ON_ERROR_STOP 1
RESET ROLE;

-- The sample data the next chapters protect: customers and their tickets, in English and
-- Japanese, with the PII real support desks see.
SELECT * FROM desk.dataset_summary;
SELECT id, full_name, email, phone, card_number, my_number FROM desk.customers ORDER BY id LIMIT 6;
SELECT id, language, left(body, 70) AS body FROM desk.tickets ORDER BY id LIMIT 6;
