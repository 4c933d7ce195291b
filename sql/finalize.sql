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
