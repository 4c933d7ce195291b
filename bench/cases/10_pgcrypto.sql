-- requires: pgcrypto
--
-- 10_pgcrypto: the pgcrypto peers of pg_privacy's encryption targets (BENCHMARKS.md).
--
--   pgcrypto.encrypt_iv               encrypt_iv(note::bytea, key, iv, 'aes-cbc')
--   pgcrypto.decrypt_iv(encrypt_iv)   the round trip
--   pgcrypto.decrypt_iv(c)            decrypt_iv over a stored ciphertext column
--   pgcrypto.pgp_sym_encrypt.10k      pgp_sym_encrypt(note, 'pw'), default options, on the
--                                     first 10,000 rows only (≈ 218 µs/row: too slow for 1M)
--
-- AES-256 (a 32-byte key, as pgcrypto picks the key size from the key's length) with a fixed IV,
-- unauthenticated: the cheapest thing pgcrypto offers. The key and IV are constants in the
-- query, as an application would pass them.
--
-- The comparisons against these labels are declared by the pg_privacy cases that measure the
-- other side (see bench/README.md); only a comparison whose two sides both exist here is
-- declared below, for information.

-- note::bytea is an I/O conversion (textout + byteain) inside the pgcrypto figures; this shows
-- how much of them it is.
SELECT bench.measure(:'case', 'cast.note::bytea',
  $q$SELECT count(note::bytea) FROM bench_desk$q$, :reps, 'scan.note');

SELECT bench.measure(:'case', 'pgcrypto.encrypt_iv',
  $q$SELECT count(encrypt_iv(note::bytea,
                             '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea,
                             '\x0f0e0d0c0b0a09080706050403020100'::bytea, 'aes-cbc'))
     FROM bench_desk$q$, :reps, 'scan.note');

SELECT bench.measure(:'case', 'pgcrypto.decrypt_iv(encrypt_iv)',
  $q$SELECT count(decrypt_iv(encrypt_iv(note::bytea,
                                        '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea,
                                        '\x0f0e0d0c0b0a09080706050403020100'::bytea, 'aes-cbc'),
                             '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea,
                             '\x0f0e0d0c0b0a09080706050403020100'::bytea, 'aes-cbc'))
     FROM bench_desk$q$, :reps, 'scan.note');

-- A stored ciphertext column, built outside the timing: a table of its own, so bench_desk and
-- its scans stay as they are.
DROP TABLE IF EXISTS bench_pgcrypto_c;
CREATE TABLE bench_pgcrypto_c AS
  SELECT id, encrypt_iv(note::bytea,
                        '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea,
                        '\x0f0e0d0c0b0a09080706050403020100'::bytea, 'aes-cbc') AS c
  FROM bench_desk;
ALTER TABLE bench_pgcrypto_c ADD PRIMARY KEY (id);
VACUUM (ANALYZE) bench_pgcrypto_c;
CHECKPOINT;

-- Sanity: the stored ciphertext decrypts to the notes.
DO $$
BEGIN
  IF EXISTS (SELECT FROM bench_pgcrypto_c c JOIN bench_desk d USING (id)
             WHERE d.id <= 1000
               AND convert_from(decrypt_iv(c.c,
                     '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea,
                     '\x0f0e0d0c0b0a09080706050403020100'::bytea, 'aes-cbc'), 'UTF8')
                   IS DISTINCT FROM d.note) THEN
    RAISE EXCEPTION 'pgcrypto: decrypt_iv of the stored ciphertext does not give back the notes';
  END IF;
END
$$;

SELECT bench.measure(:'case', 'scan.pgcrypto_c',
  $q$SELECT count(c) FROM bench_pgcrypto_c$q$, :reps);
SELECT bench.measure(:'case', 'pgcrypto.decrypt_iv(c)',
  $q$SELECT count(decrypt_iv(c,
                             '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea,
                             '\x0f0e0d0c0b0a09080706050403020100'::bytea, 'aes-cbc'))
     FROM bench_pgcrypto_c$q$, :reps, 'scan.pgcrypto_c');

-- pgp_sym_encrypt on a 10,000-row subset, normalised against a scan of the same subset.
SELECT bench.measure(:'case', 'scan.note.10k',
  $q$SELECT count(note) FROM bench_desk WHERE id <= 10000$q$, :reps);
SELECT bench.measure(:'case', 'pgcrypto.pgp_sym_encrypt.10k',
  $q$SELECT count(pgp_sym_encrypt(note, 'pw')) FROM bench_desk WHERE id <= 10000$q$,
  :reps, 'scan.note.10k');

-- For information: how much faster raw AES-CBC is than pgp_sym_encrypt (each side over its own
-- baseline: scan.note and scan.note.10k). pg_privacy's encrypt must be >= 100x faster than
-- pgp_sym_encrypt; its own case declares that.
INSERT INTO bench.ratio_targets (case_name, label, peer_label, direction, target, note)
VALUES (:'case', 'pgcrypto.encrypt_iv', 'pgcrypto.pgp_sym_encrypt.10k', 'peer/ours', NULL,
        'context: raw aes-cbc vs pgp_sym_encrypt');
