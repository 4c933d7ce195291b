-- Runs first in CREATE EXTENSION pg_privacy (schema privacy already exists).

-- Roles are cluster-wide and may already exist from another database: create them only when
-- absent, and never with LOGIN. A DBA grants them to people or application roles.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'privacy_admin') THEN
        CREATE ROLE privacy_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'privacy_auditor') THEN
        CREATE ROLE privacy_auditor NOLOGIN;
    END IF;
END
$roles$;

COMMENT ON ROLE privacy_admin IS
    'pg_privacy: may manage keys, masking rules, retention policies and audit settings';
COMMENT ON ROLE privacy_auditor IS
    'pg_privacy: may read the audit log and the auditor views, and nothing else';

COMMENT ON SCHEMA privacy IS
    'pg_privacy: encryption, masking, redaction, retention and audit functions and tables';

-- Everyone may call the functions meant for everyone (masking, status); functions meant for
-- administrators are revoked from PUBLIC one by one in finalize.sql.
GRANT USAGE ON SCHEMA privacy TO PUBLIC;
