-- Encrypted column types and the encryption functions (Rust, see src/crypto and src/keys).
-- Key management functions are for privacy_admin; encryption functions are for everyone, and
-- decrypt checks the caller's decrypt grant on every key it uses.

-- ---- key management -----------------------------------------------------------------------

CREATE FUNCTION privacy.create_key(name text, description text DEFAULT NULL) RETURNS integer
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'create_key_wrapper';
COMMENT ON FUNCTION privacy.create_key(text, text) IS
    'Creates data key <name> version 1 (random 256-bit, wrapped under the active root key) and '
    'returns its id. Names can be coarse (customer_pii) or per subject (customer:42). privacy_admin.';

CREATE FUNCTION privacy.rotate_key(name text) RETURNS integer
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'rotate_key_wrapper';
COMMENT ON FUNCTION privacy.rotate_key(text) IS
    'Adds a new active version of a key and returns its version number; the previous version is '
    'retired (it still decrypts). privacy_admin.';

CREATE FUNCTION privacy.revoke_key(name text, version integer DEFAULT NULL) RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'revoke_key_wrapper';
COMMENT ON FUNCTION privacy.revoke_key(text, integer) IS
    'Blocks a key version (NULL: every version): encrypt and decrypt then fail with 55000 until '
    'restore_key. privacy_admin.';

CREATE FUNCTION privacy.restore_key(name text, version integer DEFAULT NULL) RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'restore_key_wrapper';
COMMENT ON FUNCTION privacy.restore_key(text, integer) IS
    'Undoes revoke_key (not destroy_key): the version returns to active or retired. privacy_admin.';

CREATE FUNCTION privacy.destroy_key(name text, version integer DEFAULT NULL) RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'destroy_key_wrapper';
COMMENT ON FUNCTION privacy.destroy_key(text, integer) IS
    'Erases the key bytes of a version (NULL: every version) for ever: values encrypted with it '
    'can never be decrypted again (crypto-shredding). Irreversible. privacy_admin.';

CREATE FUNCTION privacy.rewrap_keys() RETURNS integer
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'rewrap_keys_wrapper';
COMMENT ON FUNCTION privacy.rewrap_keys() IS
    'Re-wraps every data key that is not yet under the active root key (after a root key '
    'rotation) without touching encrypted data; returns how many. privacy_admin.';

CREATE FUNCTION privacy.grant_decrypt(key_name text, grantee regrole) RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'grant_decrypt_wrapper';
COMMENT ON FUNCTION privacy.grant_decrypt(text, regrole) IS
    'Allows a role (and every role that has its privileges) to decrypt with every version of a '
    'key. privacy_admin.';

CREATE FUNCTION privacy.revoke_decrypt(key_name text, grantee regrole) RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'revoke_decrypt_wrapper';
COMMENT ON FUNCTION privacy.revoke_decrypt(text, regrole) IS
    'Withdraws a decrypt grant; takes effect from the next transaction of each session. privacy_admin.';

REVOKE ALL ON FUNCTION privacy.create_key(text, text), privacy.rotate_key(text),
    privacy.revoke_key(text, integer), privacy.restore_key(text, integer),
    privacy.destroy_key(text, integer), privacy.rewrap_keys(),
    privacy.grant_decrypt(text, regrole), privacy.revoke_decrypt(text, regrole) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.create_key(text, text), privacy.rotate_key(text),
    privacy.revoke_key(text, integer), privacy.restore_key(text, integer),
    privacy.destroy_key(text, integer), privacy.rewrap_keys(),
    privacy.grant_decrypt(text, regrole), privacy.revoke_decrypt(text, regrole) TO privacy_admin;

-- Every change to the keyring or the grants tells every session to drop its cached keys.
CREATE FUNCTION privacy.keyring_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'keyring_changed_wrapper';
COMMENT ON FUNCTION privacy.keyring_changed() IS
    'Internal: trigger that makes every session drop what it cached from the table it fires on '
    '(the keyring, the decrypt grants, the redaction patterns).';
REVOKE ALL ON FUNCTION privacy.keyring_changed() FROM PUBLIC;
-- Row-level (a logical replication subscriber applies rows and fires no statement triggers),
-- enabled ALWAYS so they fire on subscribers too; repeated invalidations of one table within a
-- transaction are merged by PostgreSQL.
CREATE TRIGGER keyring_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.keyring
    FOR EACH ROW EXECUTE FUNCTION privacy.keyring_changed();
CREATE TRIGGER keyring_truncated AFTER TRUNCATE ON privacy.keyring
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.keyring_changed();
CREATE TRIGGER decrypt_grants_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.decrypt_grants
    FOR EACH ROW EXECUTE FUNCTION privacy.keyring_changed();
CREATE TRIGGER decrypt_grants_truncated AFTER TRUNCATE ON privacy.decrypt_grants
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.keyring_changed();
ALTER TABLE privacy.keyring ENABLE ALWAYS TRIGGER keyring_changed, ENABLE ALWAYS TRIGGER keyring_truncated;
ALTER TABLE privacy.decrypt_grants ENABLE ALWAYS TRIGGER decrypt_grants_changed,
    ENABLE ALWAYS TRIGGER decrypt_grants_truncated;

-- ---- the types ------------------------------------------------------------------------------

CREATE TYPE privacy.encrypted_text;
CREATE TYPE privacy.encrypted_bytea;

CREATE FUNCTION privacy.encrypted_text_in(cstring) RETURNS privacy.encrypted_text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'encrypted_in_wrapper';
CREATE FUNCTION privacy.encrypted_text_out(privacy.encrypted_text) RETURNS cstring
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'encrypted_out_wrapper';
CREATE FUNCTION privacy.encrypted_text_recv(internal) RETURNS privacy.encrypted_text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'encrypted_recv_wrapper';
CREATE FUNCTION privacy.encrypted_text_send(privacy.encrypted_text) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'encrypted_send_wrapper';
CREATE FUNCTION privacy.encrypted_bytea_in(cstring) RETURNS privacy.encrypted_bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'encrypted_in_wrapper';
CREATE FUNCTION privacy.encrypted_bytea_out(privacy.encrypted_bytea) RETURNS cstring
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'encrypted_out_wrapper';
CREATE FUNCTION privacy.encrypted_bytea_recv(internal) RETURNS privacy.encrypted_bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'encrypted_recv_wrapper';
CREATE FUNCTION privacy.encrypted_bytea_send(privacy.encrypted_bytea) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'encrypted_send_wrapper';

CREATE TYPE privacy.encrypted_text (
    INPUT = privacy.encrypted_text_in, OUTPUT = privacy.encrypted_text_out,
    RECEIVE = privacy.encrypted_text_recv, SEND = privacy.encrypted_text_send,
    INTERNALLENGTH = VARIABLE, STORAGE = extended, CATEGORY = 'U'
);
CREATE TYPE privacy.encrypted_bytea (
    INPUT = privacy.encrypted_bytea_in, OUTPUT = privacy.encrypted_bytea_out,
    RECEIVE = privacy.encrypted_bytea_recv, SEND = privacy.encrypted_bytea_send,
    INTERNALLENGTH = VARIABLE, STORAGE = extended, CATEGORY = 'U'
);
COMMENT ON TYPE privacy.encrypted_text IS
    'Text encrypted with AES-256-GCM under a pg_privacy data key. Text form: enc1:<base64url '
    'envelope>, so dumps, COPY and replication carry ciphertext. Read it with privacy.decrypt().';
COMMENT ON TYPE privacy.encrypted_bytea IS
    'Bytes encrypted with AES-256-GCM under a pg_privacy data key. Text form: enc1:<base64url '
    'envelope>. Read it with privacy.decrypt().';
COMMENT ON FUNCTION privacy.encrypted_text_in(cstring) IS
    'Input of encrypted_text: accepts only the enc1: form (checks structure, never decrypts); else 22P02.';
COMMENT ON FUNCTION privacy.encrypted_text_out(privacy.encrypted_text) IS 'Output of encrypted_text: the enc1: form.';
COMMENT ON FUNCTION privacy.encrypted_text_recv(internal) IS 'Binary input of encrypted_text: the raw envelope.';
COMMENT ON FUNCTION privacy.encrypted_text_send(privacy.encrypted_text) IS 'Binary output of encrypted_text: the raw envelope.';
COMMENT ON FUNCTION privacy.encrypted_bytea_in(cstring) IS
    'Input of encrypted_bytea: accepts only the enc1: form (checks structure, never decrypts); else 22P02.';
COMMENT ON FUNCTION privacy.encrypted_bytea_out(privacy.encrypted_bytea) IS 'Output of encrypted_bytea: the enc1: form.';
COMMENT ON FUNCTION privacy.encrypted_bytea_recv(internal) IS 'Binary input of encrypted_bytea: the raw envelope.';
COMMENT ON FUNCTION privacy.encrypted_bytea_send(privacy.encrypted_bytea) IS 'Binary output of encrypted_bytea: the raw envelope.';

-- ---- encryption -------------------------------------------------------------------------------

-- VOLATILE: every call draws a fresh random nonce. PARALLEL RESTRICTED: key lookups use SPI.
CREATE FUNCTION privacy.encrypt(value text, key_name text, context text DEFAULT NULL)
    RETURNS privacy.encrypted_text
    LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'encrypt_text_wrapper';
CREATE FUNCTION privacy.encrypt(value bytea, key_name text, context text DEFAULT NULL)
    RETURNS privacy.encrypted_bytea
    LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'encrypt_bytea_wrapper';
COMMENT ON FUNCTION privacy.encrypt(text, text, text) IS
    'Encrypts text with the active version of a key (AES-256-GCM, random nonce). The optional '
    'context (e.g. the row''s primary key) is bound as associated data: decrypt needs the same one. '
    'NULL in, NULL out.';
COMMENT ON FUNCTION privacy.encrypt(bytea, text, text) IS
    'Encrypts bytes with the active version of a key (AES-256-GCM, random nonce), binding the '
    'optional context. NULL in, NULL out.';

-- STABLE within a statement (grants and key states are read once per transaction).
CREATE FUNCTION privacy.decrypt(value privacy.encrypted_text, context text DEFAULT NULL) RETURNS text
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'decrypt_text_wrapper';
CREATE FUNCTION privacy.decrypt(value privacy.encrypted_bytea, context text DEFAULT NULL) RETURNS bytea
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'decrypt_bytea_wrapper';
CREATE FUNCTION privacy.try_decrypt(value privacy.encrypted_text, context text DEFAULT NULL) RETURNS text
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'try_decrypt_text_wrapper';
CREATE FUNCTION privacy.try_decrypt(value privacy.encrypted_bytea, context text DEFAULT NULL) RETURNS bytea
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'try_decrypt_bytea_wrapper';
COMMENT ON FUNCTION privacy.decrypt(privacy.encrypted_text, text) IS
    'Decrypts a value. Needs a decrypt grant on its key (or superuser): else 42501. A revoked or '
    'destroyed key gives 55000; a wrong context or an altered value 22023.';
COMMENT ON FUNCTION privacy.decrypt(privacy.encrypted_bytea, text) IS
    'Decrypts bytes. Same rules as decrypt(encrypted_text).';
COMMENT ON FUNCTION privacy.try_decrypt(privacy.encrypted_text, text) IS
    'Like decrypt, but NULL when the caller may not decrypt or the key is revoked or destroyed: '
    'for masked views that show plaintext only to permitted roles. An altered value or a wrong '
    'context still raises.';
COMMENT ON FUNCTION privacy.try_decrypt(privacy.encrypted_bytea, text) IS
    'Like decrypt(encrypted_bytea), but NULL when the caller may not decrypt or the key is '
    'revoked or destroyed.';

CREATE FUNCTION privacy.key_of(value privacy.encrypted_text) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'key_of_wrapper';
CREATE FUNCTION privacy.key_of(value privacy.encrypted_bytea) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'key_of_wrapper';
COMMENT ON FUNCTION privacy.key_of(privacy.encrypted_text) IS
    'The key a value was encrypted with, as name:version. Needs no key and no grant.';
COMMENT ON FUNCTION privacy.key_of(privacy.encrypted_bytea) IS
    'The key a value was encrypted with, as name:version. Needs no key and no grant.';

CREATE FUNCTION privacy.blind_index(value text, key_name text) RETURNS bytea
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'blind_index_wrapper';
COMMENT ON FUNCTION privacy.blind_index(text, text) IS
    'Keyed HMAC-SHA256 of the normalised value (NFKC, lower case, trimmed) under the key name''s '
    'blind-index key, which every version shares: store it beside an encrypted column and index it '
    'for equality search. Needs a decrypt grant on the key and an active version.';
