-- Runs last in CREATE EXTENSION pg_privacy: privileges and comments on what pgrx generated.

COMMENT ON FUNCTION privacy.status() IS
    'pg_privacy health: version, whether the library is preloaded, whether a root key is loaded '
    '(its id and public fingerprint, or why loading failed). Never returns key material.';

COMMENT ON FUNCTION privacy.root_key_fingerprint() IS
    'Active root key id and a one-way fingerprint of it (HMAC-SHA256 of a fixed label). Equal '
    'fingerprints on two clusters mean the same root key, so encrypted dumps restore. Fails with '
    'SQLSTATE 55000 when no root key is loaded. For privacy_admin.';
REVOKE ALL ON FUNCTION privacy.root_key_fingerprint() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.root_key_fingerprint() TO privacy_admin;

-- Jobs: long-running work visible from every session while it runs (shared memory).
COMMENT ON FUNCTION privacy._job_start(text, text, bigint) IS
    'Internal: registers a running job of this session in privacy.jobs; NULL when not preloaded.';
COMMENT ON FUNCTION privacy._job_progress(bigint, bigint) IS
    'Internal: updates the rows done of a job this session runs.';
COMMENT ON FUNCTION privacy._job_finish(bigint, bigint, boolean) IS
    'Internal: marks a job this session runs as done or failed.';
COMMENT ON FUNCTION privacy.jobs_list() IS
    'Jobs of the current database (reencrypt, anonymize_table, retention runs), newest first; '
    'the rows behind privacy.jobs.';
CREATE VIEW privacy.jobs AS
    SELECT id, kind, target, started_at, rows_done, rows_total_estimate, state, finished_at, pid
      FROM privacy.jobs_list();
COMMENT ON VIEW privacy.jobs IS
    'Long-running pg_privacy work in this database, visible from any session while it runs: '
    'kind, target, progress (rows_done of rows_total_estimate), state running|done|failed. '
    'Needs the library preloaded; kept in shared memory, so it starts empty after a restart.';
GRANT SELECT ON privacy.jobs TO PUBLIC;

-- The background worker (src/worker.rs): one per database where pg_privacy is installed.
COMMENT ON FUNCTION privacy.worker_wake() IS
    'Asks this database''s pg_privacy worker to run due work (retention) now, when the calling '
    'transaction commits, instead of at its next privacy.worker_naptime; true when a worker '
    'serves this database, false when none runs yet (the launcher is asked to start one) or '
    'pg_privacy is not preloaded. For privacy_admin.';
REVOKE ALL ON FUNCTION privacy.worker_wake() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.worker_wake() TO privacy_admin;

-- The access audit (src/audit/, sql/audit.sql).
COMMENT ON FUNCTION privacy.audit_verify() IS
    'Recomputes the hash of every audit row and of every sealed block and checks the chain of '
    'seals; ok, how many rows were checked, and the first row (or block) that does not match, '
    'with what is wrong. For privacy_auditor and privacy_admin.';
REVOKE ALL ON FUNCTION privacy.audit_verify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.audit_verify() TO privacy_auditor, privacy_admin;
COMMENT ON FUNCTION privacy.audit_digest() IS
    'The latest seal of the audit log (block number, last id, SHA-256 hash): keep it outside the '
    'database; a later audit_verify() whose chain still leads through it proves nothing sealed '
    'before was rewritten. For privacy_auditor and privacy_admin.';
REVOKE ALL ON FUNCTION privacy.audit_digest() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.audit_digest() TO privacy_auditor, privacy_admin;
COMMENT ON FUNCTION privacy.audit_flush() IS
    'Waits until the read, decrypt and unmask events queued (by any session of this database) '
    'before the call are in privacy.audit_log, and returns how many there were. 55000 when '
    'pg_privacy is not preloaded or no worker flushes the queue.';

-- Masking functions (Rust). Labels are deliberate: IMMUTABLE PARALLEL SAFE where the result
-- depends only on the arguments, so the planner may evaluate them anywhere.
COMMENT ON FUNCTION privacy.mask_partial(text, integer, integer, text) IS
    'Keeps keep_start characters at the start and keep_end at the end, each other character '
    'becomes fill; a value no longer than keep_start + keep_end is masked whole.';
COMMENT ON FUNCTION privacy.mask_email(text) IS
    'alice@example.com -> a****@example.com: first character of the local part, domain kept.';
COMMENT ON FUNCTION privacy.mask_phone(text) IS
    '090-1234-5678 -> ***-****-5678: separators and the last 4 digits kept (full-width digits too).';
COMMENT ON FUNCTION privacy.mask_card(text) IS
    '4111 1111 1111 1111 -> **** **** **** 1111: separators and the last 4 digits kept.';
COMMENT ON FUNCTION privacy.mask_name(text) IS
    'Alice Smith -> A**** S****; 山田 太郎 -> 山* 太*: the first character of each word.';
COMMENT ON FUNCTION privacy.mask_my_number(text) IS
    'Japan''s 12-digit Individual Number -> ********9012: the last 4 digits kept.';
COMMENT ON FUNCTION privacy.generalize(bigint, bigint) IS
    'The lower bound of the value''s bucket of width step: generalize(37, 10) = 30, generalize(-1, 10) = -10.';
COMMENT ON FUNCTION privacy.generalize(integer, integer) IS
    'The lower bound of the value''s bucket of width step: generalize(37, 10) = 30.';
COMMENT ON FUNCTION privacy.pseudonymize(text, text) IS
    'A keyed token (tok_...) for the value under a pg_privacy key name: equal values give equal '
    'tokens, so pseudonymised data still joins and counts; irreversible without the key. STABLE.';
COMMENT ON FUNCTION privacy.redact(text, text[]) IS
    'The text with PII replaced by [EMAIL], [PHONE], [CARD], [MY_NUMBER], [POSTAL_CODE], [IP] or '
    '[CUSTOM] labels, in one linear-time pass; English and Japanese (full-width) forms; everything '
    'else byte-identical. categories limits what is redacted (NULL: all).';
COMMENT ON FUNCTION privacy.detect_pii(text) IS
    'PII found in the text: category and character positions (1-based, end exclusive).';
COMMENT ON FUNCTION privacy._check_redaction_pattern(text) IS
    'Internal: raises 22023 if a redaction pattern does not compile, is too large, or matches the '
    'empty string.';

-- Last: once this CREATE EXTENSION commits, the launcher starts this database's worker now
-- rather than at its next scan.
SELECT privacy.worker_wake();
