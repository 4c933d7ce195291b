-- bench/data.sql: the support-desk dataset of /work/shared/BENCHMARKS.md.
--
--   psql -v rows=1000000 -f bench/data.sql      (bench/run does this for you)
--
-- Deterministic: every value is derived from the row's id through md5() and arithmetic, never
-- random(), so two runs (and two machines) benchmark exactly the same bytes.
--
-- bench_desk(id, email, phone, card, name, note):
--   * 40% Japanese customers (漢字 names, romaji e-mail addresses, Japanese phone formats),
--     60% English-speaking ones (US phone formats);
--   * card: 16 Luhn-valid digits (Visa 4…, Mastercard 51–55…, JCB 35…), written plain,
--     grouped by spaces, or grouped by dashes;
--   * note: ≈ 160 bytes of English and Japanese support-desk text. 55% of the notes carry no
--     PII at all; the rest carry one or two items: an e-mail, a phone number (Japanese
--     hyphenated, full-width digits, +81 or US), a card number, an IPv4/IPv6 address, or a
--     〒 postal code (half- or full-width).

\set ON_ERROR_STOP 1
\if :{?rows}
\else
  \set rows 1000000
\endif

DROP TABLE IF EXISTS bench_desk;
CREATE TABLE bench_desk (
  id    bigint PRIMARY KEY,
  email text,
  phone text,
  card  text,
  name  text,
  note  text
);

INSERT INTO bench_desk (id, email, phone, card, name, note)
SELECT g.id, p.email, p.phone, c.card, n.name, t.note
FROM generate_series(1, :rows) AS g(id)
-- Ten 32-bit hashes of the id. OFFSET 0 keeps each subquery from being flattened, so the
-- expressions below read computed columns instead of re-evaluating md5() at every reference.
CROSS JOIN LATERAL (
  SELECT ('x' || substr(m1, 1, 8))::bit(32)::bigint AS h1,
         ('x' || substr(m1, 9, 8))::bit(32)::bigint AS h2,
         ('x' || substr(m1, 17, 8))::bit(32)::bigint AS h3,
         ('x' || substr(m1, 25, 8))::bit(32)::bigint AS h4,
         ('x' || substr(m2, 1, 8))::bit(32)::bigint AS h5,
         ('x' || substr(m2, 9, 8))::bit(32)::bigint AS h6,
         ('x' || substr(m2, 17, 8))::bit(32)::bigint AS h7,
         ('x' || substr(m2, 25, 8))::bit(32)::bigint AS h8,
         ('x' || substr(m3, 1, 8))::bit(32)::bigint AS h9,
         ('x' || substr(m3, 9, 8))::bit(32)::bigint AS h10
  FROM (SELECT md5(g.id::text) AS m1, md5('bench_desk:' || g.id::text) AS m2,
               md5('card:' || g.id::text) AS m3) m
  OFFSET 0
) h
-- Who the customer is.
CROSS JOIN LATERAL (
  SELECT h.h1 % 5 < 2 AS jp,
         CASE WHEN h.h1 % 5 < 2
           THEN (ARRAY['佐藤','鈴木','高橋','田中','伊藤','渡辺','山本','中村','小林','加藤','吉田','山田'])[1 + h.h2 % 12]
           ELSE (ARRAY['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','Wilson','Taylor','Clark','Lewis'])[1 + h.h2 % 12]
         END AS last_name,
         CASE WHEN h.h1 % 5 < 2
           THEN (ARRAY['翔太','陽菜','蓮','結衣','大翔','さくら','健一','美咲','拓也','愛子'])[1 + h.h3 % 10]
           ELSE (ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','David','Elizabeth'])[1 + h.h3 % 10]
         END AS first_name,
         CASE WHEN h.h1 % 5 < 2
           THEN (ARRAY['sato','suzuki','takahashi','tanaka','ito','watanabe','yamamoto','nakamura','kobayashi','kato','yoshida','yamada'])[1 + h.h2 % 12]
           ELSE (ARRAY['smith','johnson','williams','brown','jones','garcia','miller','davis','wilson','taylor','clark','lewis'])[1 + h.h2 % 12]
         END AS last_ascii,
         CASE WHEN h.h1 % 5 < 2
           THEN (ARRAY['shota','hina','ren','yui','hiroto','sakura','kenichi','misaki','takuya','aiko'])[1 + h.h3 % 10]
           ELSE (ARRAY['james','mary','john','patricia','robert','jennifer','michael','linda','david','elizabeth'])[1 + h.h3 % 10]
         END AS first_ascii
  OFFSET 0
) n0
CROSS JOIN LATERAL (
  SELECT CASE WHEN n0.jp THEN n0.last_name || ' ' || n0.first_name
              ELSE n0.first_name || ' ' || n0.last_name END AS name
) n
-- Contact details.
CROSS JOIN LATERAL (
  SELECT n0.first_ascii || '.' || n0.last_ascii || (h.h4 % 1000)::text || '@'
           || (CASE WHEN n0.jp
                 THEN (ARRAY['example.co.jp','example.jp','mail.example.ne.jp','corp.example.jp'])[1 + h.h4 / 1000 % 4]
                 ELSE (ARRAY['example.com','example.org','mail.example.net','corp.example.com'])[1 + h.h4 / 1000 % 4]
               END) AS email,
         CASE WHEN n0.jp THEN
           CASE h.h5 % 4
             WHEN 0 THEN '0' || (ARRAY['70','80','90'])[1 + h.h5 / 4 % 3] || '-' || lpad((h.h6 % 10000)::text, 4, '0') || '-' || lpad((h.h7 % 10000)::text, 4, '0')
             WHEN 1 THEN '03-' || lpad((h.h6 % 10000)::text, 4, '0') || '-' || lpad((h.h7 % 10000)::text, 4, '0')
             WHEN 2 THEN '06-' || lpad((h.h6 % 10000)::text, 4, '0') || '-' || lpad((h.h7 % 10000)::text, 4, '0')
             ELSE '+81-' || (ARRAY['70','80','90'])[1 + h.h5 / 4 % 3] || '-' || lpad((h.h6 % 10000)::text, 4, '0') || '-' || lpad((h.h7 % 10000)::text, 4, '0')
           END
         ELSE
           CASE h.h5 % 2
             WHEN 0 THEN '+1-' || (ARRAY['202','212','415','617','312'])[1 + h.h5 / 2 % 5] || '-555-0' || lpad((h.h6 % 1000)::text, 3, '0')
             ELSE '(' || (ARRAY['202','212','415','617','312'])[1 + h.h5 / 2 % 5] || ') 555-0' || lpad((h.h6 % 1000)::text, 3, '0')
           END
         END AS phone
  OFFSET 0
) p
-- A 15-digit card prefix ...
CROSS JOIN LATERAL (
  SELECT left(CASE h.h6 % 3 WHEN 0 THEN '4' WHEN 1 THEN '5' || (1 + h.h6 / 3 % 5)::text ELSE '35' END
              || lpad((h.h9 % 10000000)::text, 7, '0') || lpad((h.h10 % 10000000)::text, 7, '0'), 15) AS pan
  OFFSET 0
) c0
-- ... its Luhn check digit: from the right of the 16-digit number, every second digit
-- starting with the last digit of the prefix is doubled (a doubled d ≥ 5 counts 2d − 9, i.e.
-- 2d − 9·(d/5)); the check digit tops the sum up to a multiple of 10 ...
CROSS JOIN LATERAL (
  SELECT c0.pan || ((10 - (
      2 * substr(c0.pan,  1, 1)::int - 9 * (substr(c0.pan,  1, 1)::int / 5) + substr(c0.pan,  2, 1)::int
    + 2 * substr(c0.pan,  3, 1)::int - 9 * (substr(c0.pan,  3, 1)::int / 5) + substr(c0.pan,  4, 1)::int
    + 2 * substr(c0.pan,  5, 1)::int - 9 * (substr(c0.pan,  5, 1)::int / 5) + substr(c0.pan,  6, 1)::int
    + 2 * substr(c0.pan,  7, 1)::int - 9 * (substr(c0.pan,  7, 1)::int / 5) + substr(c0.pan,  8, 1)::int
    + 2 * substr(c0.pan,  9, 1)::int - 9 * (substr(c0.pan,  9, 1)::int / 5) + substr(c0.pan, 10, 1)::int
    + 2 * substr(c0.pan, 11, 1)::int - 9 * (substr(c0.pan, 11, 1)::int / 5) + substr(c0.pan, 12, 1)::int
    + 2 * substr(c0.pan, 13, 1)::int - 9 * (substr(c0.pan, 13, 1)::int / 5) + substr(c0.pan, 14, 1)::int
    + 2 * substr(c0.pan, 15, 1)::int - 9 * (substr(c0.pan, 15, 1)::int / 5)
    ) % 10) % 10)::text AS digits
  OFFSET 0
) c1
-- ... written the way customers write it.
CROSS JOIN LATERAL (
  SELECT CASE h.h8 % 3
           WHEN 0 THEN c1.digits
           WHEN 1 THEN substr(c1.digits, 1, 4) || ' ' || substr(c1.digits, 5, 4) || ' ' || substr(c1.digits, 9, 4) || ' ' || substr(c1.digits, 13, 4)
           ELSE substr(c1.digits, 1, 4) || '-' || substr(c1.digits, 5, 4) || '-' || substr(c1.digits, 9, 4) || '-' || substr(c1.digits, 13, 4)
         END AS card
  OFFSET 0
) c
-- The note: an English sentence, a Japanese sentence, and a tail that is PII in 45% of rows.
CROSS JOIN LATERAL (
  SELECT (ARRAY[
            'Customer reports the export button does nothing on the billing page.',
            'Asked for a refund after the annual plan renewed without notice.',
            'Password reset email never arrived; spam folder checked as advised.',
            'Invoice total differs from the quote by the shipping fee.',
            'App crashes on startup since the last update on Android 14.',
            'Wants to change the delivery address before the order ships.',
            'Escalated to tier 2: sync stuck at 99% for more than a day.',
            'Thanked the agent, issue resolved after clearing the cache.',
            'Requested a copy of all personal data we hold (access request).',
            'Duplicate charge on the statement, waiting for the bank to reply.',
            'Cannot log in with SSO; error 403 from the identity provider.',
            'Feature request: dark mode and keyboard shortcuts in the editor.'
          ])[1 + h.h5 / 7 % 12]
         || ' ' ||
         (ARRAY[
            '配送が遅れているとの問い合わせ。',
            '請求書の金額が見積もりと異なります。',
            'ログインできないため再設定を案内しました。',
            'アプリが起動直後に終了するとのこと。',
            '返金手続きについて確認中です。',
            '解約の理由はサービス内容の変更です。',
            'ご不便をおかけして申し訳ございません。',
            '担当部署に転送し、折り返し連絡予定。',
            '商品が破損して届いたとの報告あり。',
            'パスワード変更後も同じエラーが出ます。'
          ])[1 + h.h6 / 11 % 10]
         || ' ' ||
         CASE h.h7 / 13 % 20
           WHEN 11 THEN 'Reply to ' || p.email
           WHEN 12 THEN '連絡先: ' || p.phone
           WHEN 13 THEN '電話：' || translate(p.phone, '0123456789-+', '０１２３４５６７８９－＋')
           WHEN 14 THEN 'Call back on ' || p.phone || ' after 5pm.'
           WHEN 15 THEN 'Card ' || c.card || ' was declined.'
           WHEN 16 THEN 'Login from ' || CASE WHEN h.h8 % 2 = 0
                                           THEN '203.0.113.' || (1 + h.h8 / 2 % 254)::text
                                           ELSE '192.168.' || (h.h8 / 2 % 256)::text || '.' || (1 + h.h8 / 512 % 254)::text
                                         END || ' blocked.'
           WHEN 17 THEN CASE WHEN h.h8 % 2 = 0
                          THEN '〒' || lpad((h.h8 / 2 % 1000)::text, 3, '0') || '-' || lpad((h.h8 / 2000 % 10000)::text, 4, '0') || ' 東京都渋谷区'
                          ELSE '〒' || translate(lpad((h.h8 / 2 % 1000)::text, 3, '0') || '-' || lpad((h.h8 / 2000 % 10000)::text, 4, '0'),
                                                 '0123456789-', '０１２３４５６７８９－') || ' 大阪市北区'
                        END
           WHEN 18 THEN p.email || ' / ' || p.phone
           WHEN 19 THEN 'IPv6 2001:db8::' || to_hex(h.h8 % 65536) || ' 〒' || lpad((h.h8 / 65536 % 1000)::text, 3, '0') || '-' || lpad((h.h8 % 10000)::text, 4, '0')
           ELSE (ARRAY[
                   '引き続き対応いたします。よろしくお願いします。',
                   'Follow up next week if nothing changes.',
                   '再発した場合はご連絡ください。',
                   'Closed as a duplicate of an older ticket.',
                   'お客様には状況をメールで説明済み。',
                   'No further action needed from our side.'
                 ])[1 + h.h8 % 6]
         END AS note
) t;

VACUUM (ANALYZE) bench_desk;
CHECKPOINT;

-- Pre-warm: pg_prewarm (contrib) when it is there, a full scan otherwise.
SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_prewarm') AS have_prewarm \gset
\if :have_prewarm
  CREATE EXTENSION IF NOT EXISTS pg_prewarm;
  SELECT pg_prewarm('bench_desk') + pg_prewarm('bench_desk_pkey') AS prewarmed_blocks \gset
\else
  SELECT count(note) AS prewarmed_rows FROM bench_desk \gset
\endif
