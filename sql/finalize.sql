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
