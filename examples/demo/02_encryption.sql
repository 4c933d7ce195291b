-- Chapter 2: encrypted columns, who may decrypt, key rotation, blind indexes, crypto-shredding.
--
-- pg_privacy encrypts values with AES-256-GCM under named data keys. A data key is random, is
-- stored only wrapped under the root key (privacy.keyring), and is unwrapped in server memory
-- when used. Who may decrypt is a grant on the key, separate from table privileges.

\pset null '(null)'

-- One key for the customers' personal data. Key management is for privacy_admin (and superusers).
SELECT privacy.create_key('customer_pii', 'customer cards and Individual Numbers') AS key_id;
SELECT name, version, status, root_key_id, description FROM privacy.keys;

-- An encrypted column, filled from the plaintext one. The context (here the primary key) is
-- bound to each value: a ciphertext copied onto another row no longer decrypts.
ALTER TABLE desk.customers ADD COLUMN card_enc privacy.encrypted_text;
UPDATE desk.customers SET card_enc = privacy.encrypt(card_number, 'customer_pii', id::text);

-- What the table, pg_dump, COPY and replicas carry: ciphertext, labelled with its key version.
SELECT id, card_number, left(card_enc::text, 40) || '…' AS card_enc, privacy.key_of(card_enc)
  FROM desk.customers ORDER BY id LIMIT 4;

-- Customer 1's ciphertext read as if it belonged to customer 2: refused.
\set ON_ERROR_STOP 0
SELECT privacy.decrypt(card_enc, '2') FROM desk.customers WHERE id = 1;
\set ON_ERROR_STOP 1

-- Who sees plaintext. SELECT on the table lets a role read rows; a decrypt grant on the key lets
-- it read what is encrypted. Supervisors may; tier-1 agents such as agent_alice may not.
CREATE ROLE supervisors NOLOGIN;
CREATE ROLE supervisor_bob LOGIN IN ROLE supervisors;
GRANT USAGE ON SCHEMA desk TO supervisors, agent_alice;
GRANT SELECT ON desk.customers TO supervisors, agent_alice;
SELECT privacy.grant_decrypt('customer_pii', 'supervisors');
SELECT key_name, grantee, granted_by FROM privacy.decrypt_grants;

-- Bob inherits the grant through his membership of supervisors.
SET ROLE supervisor_bob;
SELECT id, full_name, privacy.decrypt(card_enc, id::text) AS card
  FROM desk.customers ORDER BY id LIMIT 3;
RESET ROLE;

-- Alice can read the rows, not the card numbers.
SET ROLE agent_alice;
\set ON_ERROR_STOP 0
SELECT id, full_name, privacy.decrypt(card_enc, id::text) AS card
  FROM desk.customers ORDER BY id LIMIT 3;
\set ON_ERROR_STOP 1
-- try_decrypt gives NULL instead of an error (the building block of masked views), and key_of
-- needs no grant: Alice can tell which key protects a value, not what it is.
SELECT id, full_name, privacy.try_decrypt(card_enc, id::text) AS card, privacy.key_of(card_enc)
  FROM desk.customers ORDER BY id LIMIT 3;
RESET ROLE;

-- Rotation: version 2 becomes the active one, used by encrypt from now on. Version 1 is retired
-- but still decrypts, so nothing has to be rewritten at rotation time.
SELECT privacy.rotate_key('customer_pii') AS new_version;

-- A new customer; the application writes only the encrypted column.
INSERT INTO desk.customers (id, full_name, email, country, created_at, card_enc)
VALUES (501, 'Nora Newman', 'nora.newman@example.com', 'GB', now(),
        privacy.encrypt('4000 0566 5566 5556', 'customer_pii', '501'));
SELECT privacy.key_of(card_enc) AS key, count(*) FROM desk.customers GROUP BY 1 ORDER BY 1;
SELECT id, privacy.key_of(card_enc), privacy.decrypt(card_enc, id::text) AS card
  FROM desk.customers WHERE id IN (1, 501) ORDER BY id;
-- To phase version 1 out, re-encrypt the column in place, in batches, with the context it was
-- encrypted with. (For big tables, CALL privacy.reencrypt_proc(...) commits after each batch.)
-- Progress shows in privacy.jobs, from any session, while it runs.
SELECT privacy.reencrypt('desk.customers', 'card_enc', batch_size => 100, context_column => 'id') AS moved;
SELECT privacy.key_of(card_enc) AS key, count(*) FROM desk.customers GROUP BY 1 ORDER BY 1;
SELECT kind, target, rows_done, rows_total_estimate, state FROM privacy.jobs;

-- Searching encrypted data. Every encryption of a value differs, so a ciphertext column cannot
-- be searched. A blind index can: a keyed hash (HMAC-SHA256) of the normalised value (NFKC,
-- lower case, trimmed), stored beside the column and indexed. It shows which rows are equal,
-- nothing more; computing it needs a decrypt grant on the key; it survives key rotation.
ALTER TABLE desk.customers ADD COLUMN email_bidx bytea;
UPDATE desk.customers SET email_bidx = privacy.blind_index(email, 'customer_pii');
CREATE INDEX customers_email_bidx ON desk.customers (email_bidx);
ANALYZE desk.customers;

-- Customer 3 signed up as Ichiro.Suzuki@Example.com. Searches typed in lower case, or in
-- full-width characters after an ideographic space (as a Japanese input method gives them),
-- find the row through the index.
SELECT id, full_name, email FROM desk.customers
 WHERE email_bidx = privacy.blind_index('ichiro.suzuki@example.com', 'customer_pii');
SELECT id, full_name, email FROM desk.customers
 WHERE email_bidx = privacy.blind_index('　ＩＣＨＩＲＯ．ＳＵＺＵＫＩ＠ＥＸＡＭＰＬＥ．ＣＯＭ', 'customer_pii');
EXPLAIN (COSTS OFF) SELECT id FROM desk.customers
 WHERE email_bidx = privacy.blind_index('ichiro.suzuki@example.com', 'customer_pii');

-- Crypto-shredding. Individual Numbers get an encrypted column too, and customer 3's personal
-- data goes under a key of that customer's own. Erasing the customer then means destroying one
-- key, not hunting down every copy of the data: replicas, dumps and backups hold only ciphertext.
-- (Backups taken before the destruction still hold the wrapped key until they expire.)
SELECT privacy.create_key('customer:3', 'all personal data of customer 3') AS key_id;
ALTER TABLE desk.customers ADD COLUMN my_number_enc privacy.encrypted_text;
UPDATE desk.customers
   SET my_number_enc = privacy.encrypt(my_number,
                                       CASE WHEN id = 3 THEN 'customer:3' ELSE 'customer_pii' END,
                                       id::text);
-- Re-encrypting is decrypt then encrypt: customer 3's card moves to the customer's key.
UPDATE desk.customers
   SET card_enc = privacy.encrypt(privacy.decrypt(card_enc, id::text), 'customer:3', id::text)
 WHERE id = 3;
SELECT id, full_name, privacy.key_of(card_enc) AS card_key,
       privacy.key_of(my_number_enc) AS my_number_key
  FROM desk.customers WHERE id BETWEEN 2 AND 4 ORDER BY id;

-- A real deployment keeps only the ciphertext: the plaintext columns go. The next chapters read
-- cards and Individual Numbers through try_decrypt(card_enc) and try_decrypt(my_number_enc).
ALTER TABLE desk.customers DROP COLUMN card_number, DROP COLUMN my_number;

-- Customer 3 asks to be forgotten. destroy_key erases the key bytes for ever.
SELECT privacy.destroy_key('customer:3');
SELECT id, full_name, privacy.try_decrypt(card_enc, id::text) AS card,
       privacy.try_decrypt(my_number_enc, id::text) AS my_number
  FROM desk.customers WHERE id BETWEEN 2 AND 4 ORDER BY id;
\set ON_ERROR_STOP 0
SELECT privacy.decrypt(my_number_enc, id::text) FROM desk.customers WHERE id = 3;
\set ON_ERROR_STOP 1
SELECT name, version, status, root_key_id FROM privacy.keys ORDER BY id;

-- Each session keeps the data keys it uses unwrapped and ready (privacy.key_cache_size), so a
-- scan unwraps a key once, not once per row. Any change to the keyring or the grants empties
-- every session's cache, and a key dropped from a cache is zeroed.
SELECT jsonb_pretty(privacy.status()->'key_cache');
