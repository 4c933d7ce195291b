-- requires: pg_privacy
--
-- 30_masking: masking functions against md5(email) (BENCHMARKS.md: per-row overhead <= md5's),
-- and redact(note) against the chained regexp_replace a user would write for the same categories
-- (target: redact at least 5x faster).

SELECT bench.measure(:'case', 'pg_privacy.mask_email(email)',
  $q$SELECT count(privacy.mask_email(email)) FROM bench_desk$q$, :reps, 'scan.email');
SELECT bench.measure(:'case', 'pg_privacy.mask_partial(email)',
  $q$SELECT count(privacy.mask_partial(email, 2, 4)) FROM bench_desk$q$, :reps, 'scan.email');
SELECT bench.measure(:'case', 'pg_privacy.mask_phone(phone)',
  $q$SELECT count(privacy.mask_phone(phone)) FROM bench_desk$q$, :reps, 'scan.email');

SELECT bench.measure(:'case', 'pg_privacy.redact(note)',
  $q$SELECT count(privacy.redact(note)) FROM bench_desk$q$, :reps, 'scan.note');

-- What a user would write for the same six categories with regexp_replace: one pass per
-- category, full-width digits included, and no validation (no Luhn, no check digit, no IPv4
-- octet ranges), so it is both slower and wrong more often.
SELECT bench.measure(:'case', 'builtin.regexp_replace x6(note)',
  $q$SELECT count(
       regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(note,
         '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}', '[EMAIL]', 'g'),
         '(?:[0-9０-９]{4}[ -－]?){3}[0-9０-９]{1,7}', '[CARD]', 'g'),
         '[0-9０-９]{4}[ -]?[0-9０-９]{4}[ -]?[0-9０-９]{4}', '[MY_NUMBER]', 'g'),
         '(\+[0-9]{1,3}[ -]?)?[0０][0-9０-９]{1,4}[-－ー ]?[0-9０-９]{1,4}[-－ー ]?[0-9０-９]{4}', '[PHONE]', 'g'),
         '(〒|郵便番号[:：]?) ?[0-9０-９]{3}[-－]?[0-9０-９]{4}', '\1[POSTAL_CODE]', 'g'),
         '([0-9]{1,3}\.){3}[0-9]{1,3}|([0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F:]*', '[IP]', 'g'))
     FROM bench_desk$q$, :reps, 'scan.note');

INSERT INTO bench.ratio_targets (case_name, label, peer_label, target, note)
VALUES (:'case', 'pg_privacy.mask_email(email)', 'builtin.md5(email)', '<= 1',
        'mask_email per-row overhead at most md5(email)''s (anon.partial_email: 3.36 us/row measured elsewhere)'),
       (:'case', 'pg_privacy.mask_partial(email)', 'builtin.md5(email)', '<= 1',
        'mask_partial per-row overhead at most md5(email)''s (anon.partial: 2.01 us/row measured elsewhere)'),
       (:'case', 'pg_privacy.redact(note)', 'builtin.regexp_replace x6(note)', '>= 5',
        'redact at least 5x faster than six chained regexp_replace over the same categories');
