-- =============================================================================
-- pg_privacy sample dataset: a bilingual (Japanese / English) support desk
-- =============================================================================
--
-- Loaded by scripts/demo into a fresh PostgreSQL 15 database:
--
--     psql -X -v ON_ERROR_STOP=1 -f examples/support_desk.sql
--
-- Plain SQL, no extension required.  Re-running it drops and rebuilds schema
-- "desk".  Helper functions and lookup tables live in pg_temp and vanish when
-- the session ends, so the only persistent objects are in schema "desk".
--
-- ALL PERSONAL DATA IN THIS FILE IS FAKE:
--   * e-mail addresses use only reserved domains (example.com / .org / .net /
--     .jp and their subdomains);
--   * card numbers are Luhn-valid *test* numbers (the well-known PSP test
--     cards, or test-card prefixes with a computed Luhn check digit);
--   * My Numbers (Japanese Individual Numbers) are synthetic 12-digit strings
--     with a correct check digit;
--   * US phones use the fictional NXX-555-01xx block, UK phones the Ofcom
--     drama ranges (020 7946 0xxx, 0161 496 0xxx, 07700 900xxx ...),
--     the Australian one the ACMA fictional list; Japan has no reserved
--     fictional range, so Japanese numbers are arbitrary look-alikes;
--   * IP addresses are documentation ranges (192.0.2.0/24, 198.51.100.0/24,
--     203.0.113.0/24, 2001:db8::/32).
--
-- The free text deliberately mixes real-looking PII with look-alikes that are
-- NOT PII, so detectors can be demonstrated on both:
--   * dates such as 令和6年5月1日, 2024/05/01, prices ¥12,800 / 12,800円,
--     8-digit order numbers, coupon codes;
--   * version strings such as "v2.10.3.4" or "3.14.159.265" (not IPs);
--   * 12-digit parcel tracking numbers (1234-5678-9012 style) whose last digit
--     is deliberately NOT a valid My Number check digit.
--
-- Reproducibility: every generated value is derived from the row id (md5 /
-- arithmetic, no random()).  Timestamps are offsets from ONE anchor,
-- date_trunc('day', now()), so the data is always "recent" for retention
-- demos: tickets span the last ~120 days, chat transcripts the last 90 days
-- (about two thirds are older than 30 days), orders the last ~3 years.
-- =============================================================================

DROP SCHEMA IF EXISTS desk CASCADE;
CREATE SCHEMA desk;
COMMENT ON SCHEMA desk IS 'pg_privacy demo: fictional bilingual (ja/en) customer support desk with fake PII';

-- The generator queries have high cost estimates, which makes PostgreSQL JIT-
-- compile them: seconds of compilation for milliseconds of work.  Switch JIT
-- off while loading; RESET at the end of the file restores the session value.
SET jit = off;

-- -----------------------------------------------------------------------------
-- Session-local helpers (pg_temp: dropped automatically at the end of the session)
-- -----------------------------------------------------------------------------

-- The single place where now() is used: every timestamp is anchor.t0 - offset.
CREATE TEMP TABLE anchor AS SELECT date_trunc('day', now()) AS t0;

-- Deterministic non-negative 28-bit hash of a text.
CREATE FUNCTION pg_temp.h(t text) RETURNS int LANGUAGE sql IMMUTABLE AS
$$ SELECT ('x' || substr(md5(t), 1, 7))::bit(28)::int $$;

-- Luhn check digit for a digit string (the payload without its check digit).
CREATE FUNCTION pg_temp.luhn_digit(payload text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$
  SELECT ((10 - sum(CASE WHEN i % 2 = 1 THEN (2 * d) / 10 + (2 * d) % 10 ELSE d END) % 10) % 10)::text
  FROM (SELECT i, substr(payload, length(payload) - i + 1, 1)::int AS d
        FROM generate_series(1, length(payload)) AS i) s
$$;

-- My Number (個人番号) check digit for the first 11 digits:
--   P_n = n-th digit from the right, Q_n = n+1 (n<=6) / n-5 (n>=7),
--   r = sum(P_n*Q_n) mod 11, check = 0 if r <= 1 else 11 - r.
CREATE FUNCTION pg_temp.mynumber_digit(b text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$
  -- ((11 - r) mod 11) mod 10 maps r = 0 and r = 1 to 0 and r >= 2 to 11 - r.
  -- Written as one expression (no FROM clause) so the planner can inline it.
  SELECT ((11 - (  substr(b, 11, 1)::int * 2 + substr(b, 10, 1)::int * 3 + substr(b, 9, 1)::int * 4
                 + substr(b,  8, 1)::int * 5 + substr(b,  7, 1)::int * 6 + substr(b, 6, 1)::int * 7
                 + substr(b,  5, 1)::int * 2 + substr(b,  4, 1)::int * 3 + substr(b, 3, 1)::int * 4
                 + substr(b,  2, 1)::int * 5 + substr(b,  1, 1)::int * 6) % 11) % 11 % 10)::text
$$;

-- Group card digits 4-4-4-4 (or 4-6-5 for 15-digit Amex) with a separator.
CREATE FUNCTION pg_temp.fmt_card(d text, sep text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$
  SELECT CASE WHEN length(d) = 15
              THEN concat_ws(sep, substr(d, 1, 4), substr(d, 5, 6), substr(d, 11, 5))
              ELSE concat_ws(sep, substr(d, 1, 4), substr(d, 5, 4), substr(d, 9, 4), substr(d, 13, 4)) END
$$;

-- Japanese era date: 令和6年5月1日 / 平成元年1月8日 / 昭和60年4月12日.
CREATE FUNCTION pg_temp.wareki(d date) RETURNS text LANGUAGE sql IMMUTABLE AS
$$
  SELECT CASE WHEN d >= date '2019-05-01'
              THEN '令和' || CASE WHEN extract(year FROM d) = 2019 THEN '元' ELSE (extract(year FROM d)::int - 2018)::text END
              WHEN d >= date '1989-01-08'
              THEN '平成' || CASE WHEN extract(year FROM d) = 1989 THEN '元' ELSE (extract(year FROM d)::int - 1988)::text END
              ELSE '昭和' || (extract(year FROM d)::int - 1925)::text END
         || '年' || extract(month FROM d)::int || '月' || extract(day FROM d)::int || '日'
$$;

-- Price as a customer would type it: ¥12,800 / 12,800円 / $89.99 / £79.99 ...
CREATE FUNCTION pg_temp.fmt_amount(amount numeric, currency text, h int) RETURNS text LANGUAGE sql IMMUTABLE AS
$$
  SELECT CASE currency
           WHEN 'JPY' THEN CASE WHEN h % 2 = 0 THEN '¥' || to_char(amount, 'FM999,999,990')
                                ELSE to_char(amount, 'FM999,999,990') || '円' END
           WHEN 'USD' THEN '$'   || to_char(amount, 'FM999,990.00')
           WHEN 'GBP' THEN '£'   || to_char(amount, 'FM999,990.00')
           WHEN 'CAD' THEN 'CA$' || to_char(amount, 'FM999,990.00')
           WHEN 'AUD' THEN 'A$'  || to_char(amount, 'FM999,990.00')
           ELSE to_char(amount, 'FM999,990.00') || ' ' || currency END
$$;

-- 12-digit parcel tracking number (4-4-4).  NOT PII: its last digit is chosen
-- to be an INVALID My Number check digit, so it is a pure look-alike.
CREATE FUNCTION pg_temp.tracking(h int) RETURNS text LANGUAGE sql IMMUTABLE AS
$$
  SELECT substr(b, 1, 4) || '-' || substr(b, 5, 4) || '-' || substr(b, 9, 3)
         || ((pg_temp.mynumber_digit(b)::int + 1) % 10)::text
  FROM (SELECT lpad((h::bigint * 104729 % 100000000000)::text, 11, '0') AS b) s
$$;

CREATE FUNCTION pg_temp.ip4(h int) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT (ARRAY['192.0.2.', '198.51.100.', '203.0.113.'])[1 + h / 5 % 3] || (1 + h / 13 % 254) $$;

CREATE FUNCTION pg_temp.ip6(h int) RETURNS text LANGUAGE sql IMMUTABLE AS
$$
  SELECT CASE h % 3
           WHEN 0 THEN '2001:db8::' || to_hex(1 + h / 3 % 4095)
           WHEN 1 THEN '2001:db8:' || to_hex(h / 3 % 65536) || ':' || to_hex(h / 7 % 65536) || '::' || to_hex(1 + h % 255)
           ELSE '2001:0db8:0000:0000:0000:0000:0000:' || lpad(to_hex(h / 11 % 65536), 4, '0') END
$$;

-- App version with four dotted components (looks like an IPv4 address, is not one).
CREATE FUNCTION pg_temp.ver(h int) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT 'v' || (1 + h / 17 % 4) || '.' || (h / 19 % 20) || '.' || (h / 23 % 10) || '.' || (h / 29 % 60) $$;

-- Template filling: '{key}' is replaced by kv->>'key' (unknown keys are left
-- visible as '{key}').  Templates contain no other braces.
CREATE FUNCTION pg_temp.fill(tpl text, kv jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS
$$
  SELECT string_agg(CASE WHEN n % 2 = 0 THEN coalesce(kv ->> p, '{' || p || '}') ELSE p END, '' ORDER BY n)
  FROM regexp_split_to_table(tpl, '[{}]') WITH ORDINALITY AS x(p, n)
$$;

-- -----------------------------------------------------------------------------
-- Tables
-- -----------------------------------------------------------------------------
-- PII columns deliberately carry no NOT NULL / CHECK constraints, so that the
-- demo can encrypt, mask, null out or pseudonymise them in place.

CREATE TABLE desk.agents (
    id           int  PRIMARY KEY,
    login        text NOT NULL UNIQUE,
    display_name text NOT NULL,
    tier         text NOT NULL CHECK (tier IN ('tier1', 'supervisor', 'analyst'))
);
COMMENT ON TABLE  desk.agents IS 'Support staff. The tier drives what each agent may see in the privacy demo (tier1 = masked PII, supervisor = more, analyst = aggregates only).';
COMMENT ON COLUMN desk.agents.id           IS 'Agent id.';
COMMENT ON COLUMN desk.agents.login        IS 'Login name (unique); can be mapped to a database role in the demo.';
COMMENT ON COLUMN desk.agents.display_name IS 'Name shown to customers in tickets and chats.';
COMMENT ON COLUMN desk.agents.tier         IS 'Access tier: tier1, supervisor or analyst.';

CREATE TABLE desk.customers (
    id          int  PRIMARY KEY,
    full_name   text,
    email       text,
    phone       text,
    card_number text,
    my_number   text,
    postal_code text,
    address     text,
    birth_date  date,
    country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    created_at  timestamptz NOT NULL
);
COMMENT ON TABLE  desk.customers IS 'Customer master data. Every column except id, country and created_at is (fake) PII.';
COMMENT ON COLUMN desk.customers.id          IS 'Customer id.';
COMMENT ON COLUMN desk.customers.full_name   IS 'PII: full name; Japanese names with an ASCII space, an ideographic space (U+3000) or no space at all.';
COMMENT ON COLUMN desk.customers.email       IS 'PII: e-mail address (reserved example.* domains only).';
COMMENT ON COLUMN desk.customers.phone       IS 'PII: phone number as entered by the customer (national, international, or full-width digits).';
COMMENT ON COLUMN desk.customers.card_number IS 'PII / PCI: payment card number as entered (spaces, hyphens or none); Luhn-valid test numbers only.';
COMMENT ON COLUMN desk.customers.my_number   IS 'PII (特定個人情報): Japanese Individual Number, 12 digits with a valid check digit; NULL for non-Japanese customers.';
COMMENT ON COLUMN desk.customers.postal_code IS 'PII (quasi-identifier): 〒 code like 150-0002 for JP, ZIP code or postcode elsewhere.';
COMMENT ON COLUMN desk.customers.address     IS 'PII: postal address; Japanese addresses start with 〒 and the postal code.';
COMMENT ON COLUMN desk.customers.birth_date  IS 'PII (quasi-identifier): date of birth.';
COMMENT ON COLUMN desk.customers.country     IS 'ISO 3166-1 alpha-2 country of residence (JP, US, GB, CA, AU).';
COMMENT ON COLUMN desk.customers.created_at  IS 'When the customer account was created.';

CREATE TABLE desk.orders (
    id           int  PRIMARY KEY,
    customer_id  int  REFERENCES desk.customers,
    ordered_at   timestamptz NOT NULL,
    amount       numeric(12,2) NOT NULL,
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    item         text NOT NULL,
    order_number text NOT NULL UNIQUE,
    quantity     int  NOT NULL DEFAULT 1
);
COMMENT ON TABLE  desk.orders IS 'Orders. Kept for years (accounting), so the retention demo keeps them while it purges chats.';
COMMENT ON COLUMN desk.orders.id           IS 'Order id.';
COMMENT ON COLUMN desk.orders.customer_id  IS 'Customer who placed the order.';
COMMENT ON COLUMN desk.orders.ordered_at   IS 'When the order was placed (spread over the last ~3 years).';
COMMENT ON COLUMN desk.orders.amount       IS 'Order total in the order currency (price x quantity).';
COMMENT ON COLUMN desk.orders.currency     IS 'ISO 4217 currency code (JPY, USD, GBP, CAD, AUD).';
COMMENT ON COLUMN desk.orders.item         IS 'Product name, in Japanese for Japanese customers.';
COMMENT ON COLUMN desk.orders.order_number IS '8-digit customer-facing order number, quoted in tickets (not PII).';
COMMENT ON COLUMN desk.orders.quantity     IS 'Number of units ordered.';

CREATE TABLE desk.tickets (
    id                int  PRIMARY KEY,
    customer_id       int  REFERENCES desk.customers,
    channel           text NOT NULL CHECK (channel IN ('email', 'chat', 'phone', 'web')),
    language          text NOT NULL CHECK (language IN ('ja', 'en')),
    subject           text,
    body              text,
    status            text NOT NULL CHECK (status IN ('open', 'pending', 'closed')),
    created_at        timestamptz NOT NULL,
    assigned_agent_id int  REFERENCES desk.agents
);
COMMENT ON TABLE  desk.tickets IS 'Support tickets (~60% Japanese). Free text contains PII and many non-PII look-alikes.';
COMMENT ON COLUMN desk.tickets.id                IS 'Ticket id.';
COMMENT ON COLUMN desk.tickets.customer_id       IS 'Customer who raised the ticket.';
COMMENT ON COLUMN desk.tickets.channel           IS 'Contact channel: email, chat, phone or web.';
COMMENT ON COLUMN desk.tickets.language          IS 'Main language of the text: ja or en (en tickets may mix in Japanese).';
COMMENT ON COLUMN desk.tickets.subject           IS 'Free text subject; may contain PII.';
COMMENT ON COLUMN desk.tickets.body              IS 'Free text body written by the customer (or call notes); contains PII such as names, phones, cards, My Numbers, addresses, IPs.';
COMMENT ON COLUMN desk.tickets.status            IS 'Ticket status: open, pending or closed.';
COMMENT ON COLUMN desk.tickets.created_at        IS 'When the ticket was opened (last ~120 days).';
COMMENT ON COLUMN desk.tickets.assigned_agent_id IS 'Agent currently handling the ticket; NULL while unassigned.';

CREATE TABLE desk.chat_transcripts (
    id          int  PRIMARY KEY,
    customer_id int  REFERENCES desk.customers,
    ticket_id   int  REFERENCES desk.tickets,
    started_at  timestamptz NOT NULL,
    transcript  text,
    agent_id    int  REFERENCES desk.agents,
    language    text NOT NULL CHECK (language IN ('ja', 'en'))
);
COMMENT ON TABLE  desk.chat_transcripts IS 'Live-chat transcripts (last 90 days). Retention demo: delete those older than 30 days.';
COMMENT ON COLUMN desk.chat_transcripts.id          IS 'Chat session id.';
COMMENT ON COLUMN desk.chat_transcripts.customer_id IS 'Customer in the chat.';
COMMENT ON COLUMN desk.chat_transcripts.ticket_id   IS 'Ticket the chat belongs to; NULL for quick questions that never became a ticket.';
COMMENT ON COLUMN desk.chat_transcripts.started_at  IS 'When the chat session started.';
COMMENT ON COLUMN desk.chat_transcripts.transcript  IS 'Full transcript, one "[time] speaker: message" line per turn; contains names and other PII.';
COMMENT ON COLUMN desk.chat_transcripts.agent_id    IS 'Agent who answered the chat.';
COMMENT ON COLUMN desk.chat_transcripts.language    IS 'Main language of the chat: ja or en.';

CREATE INDEX ON desk.orders (customer_id);
CREATE INDEX ON desk.orders (ordered_at);
CREATE INDEX ON desk.tickets (customer_id);
CREATE INDEX ON desk.tickets (created_at);
CREATE INDEX ON desk.chat_transcripts (customer_id);
CREATE INDEX ON desk.chat_transcripts (ticket_id);
CREATE INDEX ON desk.chat_transcripts (started_at);

-- -----------------------------------------------------------------------------
-- Agents
-- -----------------------------------------------------------------------------
INSERT INTO desk.agents (id, login, display_name, tier) VALUES
    ( 1, 'k.sato',         'サポート 佐藤',        'tier1'),
    ( 2, 'y.tanaka',       'サポート 田中',        'tier1'),
    ( 3, 'm.ito',          'サポート 伊藤',        'tier1'),
    ( 4, 'emily.c',        'Emily (Support)',      'tier1'),
    ( 5, 'james.w',        'James (Support)',      'tier1'),
    ( 6, 'h.kobayashi',    'サポート 小林',        'tier1'),
    ( 7, 'r.nakamura',     '中村 (スーパーバイザー)', 'supervisor'),
    ( 8, 'olivia.b',       'Olivia (Supervisor)',  'supervisor'),
    ( 9, 'analyst.kimura', 'Analytics 木村',       'analyst'),
    (10, 'analyst.jones',  'Analytics Jones',      'analyst');

-- -----------------------------------------------------------------------------
-- Customers 1-24: hand-written (1-12 Japanese, 13-24 English / other)
-- -----------------------------------------------------------------------------
INSERT INTO desk.customers (id, full_name, email, phone, card_number, my_number, postal_code, address, birth_date, country, created_at)
SELECT v.id, v.full_name, v.email, v.phone, v.card_number, v.my_number, v.postal_code, v.address,
       v.birth_date::date, v.country, a.t0 - v.age_days * interval '1 day' - interval '9 hours 15 minutes'
FROM anchor a, (VALUES
    ( 1, '山田 太郎',   'taro.yamada@example.jp',          '090-1234-5678',        '4111 1111 1111 1111', '482137590624', '150-0002', '〒150-0002 東京都渋谷区渋谷2-21-1 サンプルタワー12F',     '1985-04-12', 'JP', 900),
    ( 2, '佐藤 花子',   'hanako.sato@mail.example.jp',     '０９０－８７６５－４３２１', '5555-5555-5555-4444', '730195642816', '100-0005', '〒100-0005 東京都千代田区丸の内3-4-2 見本ビル8F',       '1990-11-03', 'JP', 820),
    ( 3, '鈴木一郎',    'Ichiro.Suzuki@Example.com',       '03-1234-5678',         '4242424242424242',    '205984133767', '160-0022', '〒160-0022 東京都新宿区新宿3-1-1 サンプルハイツ201',      '1973-09-21', 'JP', 1010),
    ( 4, '高橋 美咲',   'misaki.t@example.net',            '+81 90 1234 5678',     '3530 1113 3330 0000', '613470298547', '530-0001', '〒530-0001 大阪府大阪市北区梅田1-2-3',                   '1995-02-28', 'JP', 610),
    ( 5, '田中 健太',   'kenta-tanaka@example.org',        '080-2345-6789',        '6011-1111-1111-1117', '398621504375', '460-0008', '〒460-0008 愛知県名古屋市中区栄3丁目5番12号',            '1988-07-07', 'JP', 455),
    ( 6, '伊藤さくら',  'sakura.ito@shop.example.jp',      '06-6123-4567',         '3782 822463 10005',   '854027369153', '530-0001', '〒530-0001 大阪府大阪市北区梅田2-4-9 コーポ見本305',      '2001-04-01', 'JP', 300),
    ( 7, '渡辺 直樹',   'naoki.watanabe@example.jp',       '09011112222',          '5105105105105100',    '176509822434', '060-0001', '〒060-0001 北海道札幌市中央区北一条西4-1-1',              '1969-12-15', 'JP', 1080),
    ( 8, '中村　由美',  'yumi.nakamura@example.com',       '０８０－１１２２－３３４４', '4111-1111-1111-1111', '549283177060', '810-0001', '〒810-0001 福岡県福岡市中央区天神1-8-1 例示マンション702号室', '1979-06-30', 'JP', 700),
    ( 9, '小林 翔太',   'shota.kobayashi@example.net',     '070-3456-7890',        '4012 8888 8888 1881', '960314785200', '980-0811', '〒980-0811 宮城県仙台市青葉区一番町2-7-17',               '1999-01-19', 'JP', 250),
    (10, '加藤 恵',     'megumi.kato@example.jp',          '052-123-4567',         '5555 5555 5555 4444', '284750631973', '220-0012', '〒220-0012 神奈川県横浜市西区みなとみらい2-2-1 見本レジデンス1504', '1983-08-08', 'JP', 530),
    (11, '吉田拓也',    'takuya.yoshida@corp.example.jp',  '+81-90-9876-5432',     '4242-4242-4242-4242', '631908274580', '600-8216', '〒600-8216 京都府京都市下京区東塩小路町721-1',           '1992-03-14', 'JP', 380),
    (12, '松本 愛',     'ai.matsumoto@example.org',        '090 2468 1357',        '3566 0020 2036 0505', '417063952832', '900-0015', '〒900-0015 沖縄県那覇市久茂地1-1-1',                     '1976-10-10', 'JP', 990),
    (13, 'Alice Smith',        'alice.smith@example.com',     '+1 (212) 555-0143',    '4111 1111 1111 1111', NULL, '10001',    '120 Sample Street, Apt 4B, New York, NY 10001',   '1984-05-17', 'US', 870),
    (14, 'Bob O''Neil',        'bob.oneil@example.org',       '(415) 555-0199',       '5555555555554444',    NULL, '94103',    '88 Placeholder Avenue, San Francisco, CA 94103',  '1977-03-02', 'US', 640),
    (15, 'Carol Jones',        'carol.jones@mail.example.net','+44 20 7946 0123',     '4242 4242 4242 4242', NULL, 'E1 6AN',   'Flat 3, 17 Station Road, London E1 6AN',          '1991-12-24', 'GB', 510),
    (16, 'David Brown',        'david.brown@example.net',     '555-0100',             '6011 1111 1111 1117', NULL, '02108',    '4 Example Court, Boston, MA 02108',               '1965-08-11', 'US', 1050),
    (17, 'Emma Wilson',        'emma.w@corp.example.com',     '+44 7700 900123',      '378282246310005',     NULL, 'M1 1AE',   '5 Example Row, Manchester M1 1AE',                '1998-02-05', 'GB', 220),
    (18, 'Frank Miller',       'frank.miller@example.com',    '+1-303-555-0182',      '5105-1051-0510-5100', NULL, '80202',    '1600 Demo Street, Suite 300, Denver, CO 80202',   '1959-06-06', 'US', 760),
    (19, 'Grace Lee',          'grace.lee@example.org',       '+1 416 555 0134',      '4012888888881881',    NULL, 'M5V 3L9',  '200 Demo Boulevard, Unit 1205, Toronto, ON M5V 3L9', '1993-09-09', 'CA', 340),
    (20, 'Henry O''Connor',    'henry.oconnor@example.net',   '0131 496 0958',        '3530-1113-3330-0000', NULL, 'EH1 1YZ',  '9 Sample Close, Edinburgh EH1 1YZ',               '1970-01-31', 'GB', 930),
    (21, 'María García',       'maria.garcia@example.com',    '+1 (512) 555-0177',    '4111-1111-1111-1111', NULL, '78701',    '77 Demo Road, Austin, TX 78701',                  '1987-11-20', 'US', 415),
    (22, 'Olivia Taylor',      'olivia.taylor@example.net',   '+61 491 570 156',      '5555 5555 5555 4444', NULL, '2000',     '10 Test Street, Sydney NSW 2000',                 '1996-07-04', 'AU', 180),
    (23, 'Peter Clarke',       'peter.clarke@example.org',    '+44 (0)113 496 0456',  '6011111111111117',    NULL, 'LS1 4AP',  '21 Demo Lane, Leeds LS1 4AP',                     '1981-04-22', 'GB', 690),
    (24, 'Zoë Chen-Walker',    'zoe.cw@example.com',          '206.555.0111',         '3782-822463-10005',   NULL, '98101',    '500 Lakeview Drive, Seattle, WA 98101',           '2000-10-31', 'US', 150)
) AS v(id, full_name, email, phone, card_number, my_number, postal_code, address, birth_date, country, age_days);

-- -----------------------------------------------------------------------------
-- Lookup data for generated rows (temporary)
-- -----------------------------------------------------------------------------
CREATE TEMP TABLE jp_city (n int, postal text, addr text, area text) ;
INSERT INTO jp_city VALUES
    ( 0, '150-0002', '東京都渋谷区渋谷',               '03'),
    ( 1, '100-0005', '東京都千代田区丸の内',           '03'),
    ( 2, '160-0022', '東京都新宿区新宿',               '03'),
    ( 3, '530-0001', '大阪府大阪市北区梅田',           '06'),
    ( 4, '460-0008', '愛知県名古屋市中区栄',           '052'),
    ( 5, '060-0001', '北海道札幌市中央区北一条西',     '011'),
    ( 6, '810-0001', '福岡県福岡市中央区天神',         '092'),
    ( 7, '980-0811', '宮城県仙台市青葉区一番町',       '022'),
    ( 8, '220-0012', '神奈川県横浜市西区みなとみらい', '045'),
    ( 9, '600-8216', '京都府京都市下京区東塩小路町',   '075'),
    (10, '730-0011', '広島県広島市中区基町',           '082'),
    (11, '900-0015', '沖縄県那覇市久茂地',             '098');

CREATE TEMP TABLE west_city (n int, country text, city text, region text, postal text, area text);
INSERT INTO west_city VALUES
    -- US / CA: area code for NXX-555-01xx numbers
    ( 0, 'US', 'New York',      'NY', '10001',   '212'),
    ( 1, 'US', 'San Francisco', 'CA', '94103',   '415'),
    ( 2, 'US', 'Austin',        'TX', '78701',   '512'),
    ( 3, 'US', 'Seattle',       'WA', '98101',   '206'),
    ( 4, 'US', 'Denver',        'CO', '80202',   '303'),
    ( 5, 'US', 'Boston',        'MA', '02108',   '617'),
    ( 6, 'US', 'Chicago',       'IL', '60601',   '312'),
    ( 0, 'CA', 'Toronto',       'ON', 'M5V 3L9', '416'),
    ( 1, 'CA', 'Vancouver',     'BC', 'V6B 1A1', '604'),
    ( 2, 'CA', 'Montreal',      'QC', 'H2Y 1C6', '514'),
    -- GB: area = Ofcom drama range (national number without the leading 0)
    ( 0, 'GB', 'London',        NULL, 'E1 6AN',   '20 7946 0'),
    ( 1, 'GB', 'Manchester',    NULL, 'M1 1AE',   '161 496 0'),
    ( 2, 'GB', 'Leeds',         NULL, 'LS1 4AP',  '113 496 0'),
    ( 3, 'GB', 'Bristol',       NULL, 'BS1 4DJ',  '117 496 0'),
    ( 4, 'GB', 'Edinburgh',     NULL, 'EH1 1YZ',  '131 496 0'),
    ( 5, 'GB', 'Cardiff',       NULL, 'CF10 1EP', '29 2018 0');

CREATE TEMP TABLE product (n int, ja text, en text, jpy numeric, usd numeric, gbp numeric);
INSERT INTO product VALUES
    ( 0, 'ワイヤレスイヤホン',     'Wireless earbuds',          12800,  89.99,  79.99),
    ( 1, '電気ケトル',             'Electric kettle',            4980,  39.99,  34.99),
    ( 2, 'ノートパソコンスタンド', 'Laptop stand',               3980,  29.99,  24.99),
    ( 3, '加湿器',                 'Humidifier',                 8800,  59.99,  49.99),
    ( 4, 'コーヒー豆 定期便',      'Coffee beans subscription',  2480,  19.99,  16.99),
    ( 5, 'ランニングシューズ',     'Running shoes',              9900, 119.99,  99.99),
    ( 6, 'モバイルバッテリー',     'Power bank',                 3480,  34.99,  29.99),
    ( 7, 'スマートウォッチ',       'Smartwatch',                29800, 249.00, 219.00),
    ( 8, 'ヨガマット',             'Yoga mat',                   2980,  24.99,  21.99),
    ( 9, '炊飯器',                 'Rice cooker',               19800, 149.99, 129.99),
    (10, 'デスクライト',           'Desk lamp',                  5480,  44.99,  39.99),
    (11, 'メカニカルキーボード',   'Mechanical keyboard',       14800, 129.99, 109.99),
    (12, 'ロボット掃除機',         'Robot vacuum',              39800, 349.00, 299.00),
    (13, '緑茶ギフトセット',       'Green tea gift set',         3240,  29.99,  24.99),
    (14, 'USB-Cケーブル 2本組',    'USB-C cable (2-pack)',       1280,  12.99,   9.99);

-- -----------------------------------------------------------------------------
-- Customers 25-500: generated (even ids Japanese, odd ids US / GB / CA)
-- -----------------------------------------------------------------------------
INSERT INTO desk.customers (id, full_name, email, phone, card_number, my_number, postal_code, address, birth_date, country, created_at)
WITH g AS (
    SELECT id,
           pg_temp.h('cust-name-'  || id) AS hn,
           pg_temp.h('cust-phone-' || id) AS hp,
           pg_temp.h('cust-card-'  || id) AS hc,
           pg_temp.h('cust-addr-'  || id) AS ha,
           pg_temp.h('cust-misc-'  || id) AS hm
    FROM generate_series(26, 500, 2) AS id
), n AS (
    SELECT g.*,
           (ARRAY['佐藤','鈴木','高橋','田中','伊藤','渡辺','山本','中村','小林','加藤',
                  '吉田','山田','佐々木','山口','松本','井上','木村','林','斎藤','清水'])[1 + hn % 20] AS fam_k,
           (ARRAY['sato','suzuki','takahashi','tanaka','ito','watanabe','yamamoto','nakamura','kobayashi','kato',
                  'yoshida','yamada','sasaki','yamaguchi','matsumoto','inoue','kimura','hayashi','saito','shimizu'])[1 + hn % 20] AS fam_r,
           (ARRAY['太郎','花子','一郎','陽子','健太','美咲','翔太','さくら','大輔','由美',
                  '拓也','愛','直樹','恵','隆','結衣','悠人','陽菜','蓮','葵'])[1 + hn / 20 % 20] AS giv_k,
           (ARRAY['taro','hanako','ichiro','yoko','kenta','misaki','shota','sakura','daisuke','yumi',
                  'takuya','ai','naoki','megumi','takashi','yui','yuto','hina','ren','aoi'])[1 + hn / 20 % 20] AS giv_r,
           (ARRAY['090','080','070'])[1 + hp / 7 % 3] AS mob,
           lpad((hp / 21 % 10000)::text, 4, '0') AS p1,
           lpad((hm % 10000)::text, 4, '0') AS p2,
           (2000 + hp / 31 % 8000)::text AS l1,
           (ARRAY['411111','424242','555555','510510','353011','601111','378282'])[1 + hc % 7] AS bin,
           lpad((('x' || substr(md5('cust-mn-' || id), 1, 12))::bit(48)::bigint % 100000000000)::text, 11, '0') AS mn_base
    FROM g
), c AS (
    SELECT n.*, jc.postal, jc.addr, jc.area,
           bin || CASE WHEN bin = '378282' THEN lpad((hc::bigint * 7919 % 100000000)::text, 8, '0')
                       ELSE lpad((hc::bigint * 7919 % 1000000000)::text, 9, '0') END AS card_payload,
           mob || '-' || p1 || '-' || p2 AS mob_hyphen
    FROM n JOIN jp_city jc ON jc.n = n.ha % 12
)
SELECT id,
       fam_k || (ARRAY[' ', '', '　'])[1 + hn / 400 % 3] || giv_k,
       CASE hm / 7 % 4 WHEN 0 THEN giv_r || '.' || fam_r WHEN 1 THEN fam_r || '.' || giv_r
                       WHEN 2 THEN left(giv_r, 1) || fam_r WHEN 3 THEN fam_r || '_' || giv_r END
           || id || '@' || (ARRAY['example.jp','mail.example.jp','example.com','example.net','example.org','shop.example.jp'])[1 + hm / 29 % 6],
       CASE hp % 6
           WHEN 0 THEN mob_hyphen
           WHEN 1 THEN mob || p1 || p2
           WHEN 2 THEN '+81 ' || substr(mob, 2) || ' ' || p1 || ' ' || p2
           WHEN 3 THEN CASE WHEN length(area) = 2 THEN area || '-' || l1 || '-' || p2
                            ELSE area || '-' || substr(l1, 1, 3) || '-' || p2 END
           WHEN 4 THEN translate(mob_hyphen, '0123456789-', '０１２３４５６７８９－')
           ELSE mob || ' ' || p1 || ' ' || p2 END,
       pg_temp.fmt_card(card_payload || pg_temp.luhn_digit(card_payload), (ARRAY[' ', '-', ''])[1 + hc / 7 % 3]),
       mn_base || pg_temp.mynumber_digit(mn_base),
       postal,
       '〒' || postal || ' ' || addr
           || CASE WHEN ha / 12 % 3 = 0
                   THEN (1 + ha / 36 % 5) || '丁目' || (1 + ha / 180 % 30) || '番' || (1 + ha / 5400 % 20) || '号'
                   ELSE (1 + ha / 36 % 5) || '-' || (1 + ha / 180 % 30) || '-' || (1 + ha / 5400 % 20) END
           || CASE ha / 108000 % 4
                   WHEN 0 THEN ''
                   WHEN 1 THEN ' サンプルマンション' || (1 + hm / 3 % 12) || '0' || (1 + hm / 41 % 9) || '号室'
                   WHEN 2 THEN ' コーポ見本' || (1 + hm / 3 % 4) || '0' || (1 + hm / 41 % 9)
                   ELSE ' 例示ビル' || (2 + hm / 3 % 20) || 'F' END,
       date '1950-01-01' + (hm / 5 % 20000),
       'JP',
       a.t0 - (125 + hn % 970) * interval '1 day' - (hp % 1440) * interval '1 minute'
FROM c, anchor a;

INSERT INTO desk.customers (id, full_name, email, phone, card_number, my_number, postal_code, address, birth_date, country, created_at)
WITH g AS (
    SELECT id,
           pg_temp.h('cust-name-'  || id) AS hn,
           pg_temp.h('cust-phone-' || id) AS hp,
           pg_temp.h('cust-card-'  || id) AS hc,
           pg_temp.h('cust-addr-'  || id) AS ha,
           pg_temp.h('cust-misc-'  || id) AS hm,
           CASE WHEN (id / 2) % 20 < 10 THEN 'US' WHEN (id / 2) % 20 < 17 THEN 'GB' ELSE 'CA' END AS country
    FROM generate_series(25, 499, 2) AS id
), n AS (
    SELECT g.*,
           (ARRAY['Alice','Bob','Carol','David','Emma','Frank','Grace','Henry','Isabel','Jack',
                  'Karen','Liam','Mia','Noah','Olivia','Peter','Quinn','Rachel','Sam','Tara'])[1 + hn % 20] AS first_name,
           (ARRAY['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','O''Neil','Wilson',
                  'Taylor','Anderson','Thomas','Moore','Martin','Lee','Clarke','Evans','Walker','Wright'])[1 + hn / 20 % 20] AS last_name,
           (ARRAY['411111','424242','555555','510510','353011','601111','378282'])[1 + hc % 7] AS bin,
           lpad((hp / 7 % 100)::text, 2, '0') AS xx,
           lpad((hp / 11 % 1000)::text, 3, '0') AS xxx,
           (ARRAY['Maple Avenue','Oak Street','Pine Road','Cedar Lane','Elm Street','Sample Boulevard','Lakeview Drive','Hillcrest Court'])[1 + ha / 7 % 8] AS us_street,
           (ARRAY['Station Road','High Street','Church Lane','Mill Road','Park Avenue','Victoria Street','Queens Road','Green Lane'])[1 + ha / 7 % 8] AS gb_street
    FROM g
), c AS (
    SELECT n.*, wc.city, wc.region, wc.postal, wc.area,
           bin || CASE WHEN bin = '378282' THEN lpad((hc::bigint * 7919 % 100000000)::text, 8, '0')
                       ELSE lpad((hc::bigint * 7919 % 1000000000)::text, 9, '0') END AS card_payload
    FROM n JOIN west_city wc ON wc.country = n.country
                            AND wc.n = n.ha % CASE n.country WHEN 'US' THEN 7 WHEN 'GB' THEN 6 ELSE 3 END
)
SELECT id,
       first_name || ' ' || last_name,
       CASE hm % 3 WHEN 0 THEN lower(first_name) || '.' || lower(replace(last_name, '''', ''))
                   WHEN 1 THEN lower(left(first_name, 1)) || lower(replace(last_name, '''', ''))
                   ELSE lower(first_name) || '_' || lower(left(last_name, 1)) END
           || id || '@' || (ARRAY['example.com','example.org','example.net','mail.example.com','corp.example.net'])[1 + hm / 3 % 5],
       CASE WHEN country = 'GB' THEN
                CASE hp % 4 WHEN 0 THEN '+44 ' || area || xxx
                            WHEN 1 THEN '0' || area || xxx
                            WHEN 2 THEN '+44 7700 900' || xxx
                            ELSE '07700 900' || xxx END
            ELSE
                CASE hp % 5 WHEN 0 THEN '+1 (' || area || ') 555-01' || xx
                            WHEN 1 THEN area || '-555-01' || xx
                            WHEN 2 THEN '(' || area || ') 555-01' || xx
                            WHEN 3 THEN '+1 ' || area || ' 555 01' || xx
                            ELSE area || '.555.01' || xx END END,
       pg_temp.fmt_card(card_payload || pg_temp.luhn_digit(card_payload), (ARRAY[' ', '-', ''])[1 + hc / 7 % 3]),
       NULL,
       postal,
       CASE WHEN country = 'GB' THEN
                CASE WHEN ha / 56 % 3 = 0 THEN 'Flat ' || (1 + hm / 7 % 12) || ', ' ELSE '' END
                || (1 + ha / 168 % 180) || ' ' || gb_street || ', ' || city || ' ' || postal
            ELSE
                (100 + ha / 168 % 9800) || ' ' || us_street
                || CASE WHEN ha / 56 % 3 = 0 THEN ', Apt ' || (1 + hm / 7 % 30) ELSE '' END
                || ', ' || city || ', ' || region || ' ' || postal END,
       date '1950-01-01' + (hm / 5 % 20000),
       country,
       a.t0 - (125 + hn % 970) * interval '1 day' - (hp % 1440) * interval '1 minute'
FROM c, anchor a;

-- Fresh statistics keep the following joins on hash plans (big difference for load time).
ANALYZE desk.customers;

-- -----------------------------------------------------------------------------
-- Orders 1-4000 (every customer has at least one; customers 1-250 buy more)
-- -----------------------------------------------------------------------------
INSERT INTO desk.orders (id, customer_id, ordered_at, amount, currency, item, order_number, quantity)
WITH g AS (
    SELECT id,
           CASE WHEN id <= 1500 THEN 1 + ((id - 1) * 7) % 500
                ELSE 1 + (id * id * 31 + id) % 250 END AS customer_id,
           pg_temp.h('order-' || id) AS h
    FROM generate_series(1, 4000) AS id
), o AS (
    SELECT g.*, c.country, c.created_at AS customer_since, p.ja, p.en, p.jpy, p.usd, p.gbp,
           CASE WHEN h / 15 % 20 = 0 THEN 3 WHEN h / 15 % 5 = 0 THEN 2 ELSE 1 END AS qty
    FROM g
    JOIN desk.customers c ON c.id = g.customer_id
    JOIN product p ON p.n = g.h % 15
)
SELECT o.id, o.customer_id,
       date_trunc('minute', o.customer_since + (a.t0 - o.customer_since) * ((o.h / 300 % 997) / 1000.0)),
       o.qty * CASE o.country WHEN 'JP' THEN o.jpy
                              WHEN 'GB' THEN o.gbp
                              WHEN 'CA' THEN round(o.usd * 1.36) - 0.01
                              WHEN 'AU' THEN round(o.usd * 1.52) - 0.01
                              ELSE o.usd END,
       CASE o.country WHEN 'JP' THEN 'JPY' WHEN 'GB' THEN 'GBP' WHEN 'CA' THEN 'CAD' WHEN 'AU' THEN 'AUD' ELSE 'USD' END,
       CASE WHEN o.country = 'JP' THEN o.ja ELSE o.en END,
       (10000000 + o.id * 7919)::text,
       o.qty
FROM o, anchor a;
ANALYZE desk.orders;

-- -----------------------------------------------------------------------------
-- Per-customer placeholder values for the text templates (temporary)
-- -----------------------------------------------------------------------------
CREATE TEMP TABLE ck AS
SELECT c.id, c.country, c.my_number IS NOT NULL AS has_mn,
       jsonb_build_object(
           'name',         c.full_name,
           'email',        c.email,
           'email_alt',    split_part(lower(c.email), '@', 1) || '.new@example.org',
           'phone',        c.phone,
           'phone_fw',     translate(c.phone, '0123456789-+', '０１２３４５６７８９－＋'),
           'phone_digits', CASE WHEN c.phone LIKE '+81%' OR c.phone LIKE '+44%' THEN '0' || substr(pd, 3) ELSE pd END,
           'card',         c.card_number,
           'card_hyphen',  pg_temp.fmt_card(cd, '-'),
           'card_fw',      translate(pg_temp.fmt_card(cd, '-'), '0123456789-', '０１２３４５６７８９－'),
           'card_last4',   right(cd, 4),
           'my_number',    c.my_number,
           'my_number_sp', substr(c.my_number, 1, 4) || ' ' || substr(c.my_number, 5, 4) || ' ' || substr(c.my_number, 9, 4),
           'postal',       c.postal_code,
           'address',      c.address,
           'birth_iso',    to_char(c.birth_date, 'YYYY-MM-DD'),
           'birth_wareki', pg_temp.wareki(c.birth_date)
       ) AS kv
FROM desk.customers c,
     LATERAL (SELECT regexp_replace(c.card_number, '\D', '', 'g') AS cd,
                     regexp_replace(translate(replace(c.phone, '(0)', ''), '０１２３４５６７８９', '0123456789'), '\D', '', 'g') AS pd) x;
ANALYZE ck;

-- -----------------------------------------------------------------------------
-- Ticket templates (temporary).  needs_mn = only used for customers with a My Number.
-- Placeholders: {name} {email} {email_alt} {phone} {phone_fw} {phone_digits}
--   {card} {card_hyphen} {card_fw} {card_last4} {my_number} {my_number_sp}
--   {postal} {address} {birth_iso} {birth_wareki}            (customer PII)
--   {order} {amount} {item} {tracking} {date_slash} {date_reiwa} {date_en}
--   {time} {ip4} {ip6} {ver} {agent}                          (context, mostly non-PII)
-- -----------------------------------------------------------------------------
CREATE TEMP TABLE tpl (k serial, lang text, needs_mn bool, subject text, body text, n_all int, n_nomn int);
INSERT INTO tpl (lang, needs_mn, subject, body) VALUES
    -- Japanese (26)
    ('ja', false, '注文 {order} の支払いについて',
     '注文番号 {order} の件です。カード {card_hyphen} で支払いましたが、{date_slash} に同じ金額（{amount}）が二重に請求されているようです。ご確認をお願いします。'),
    ('ja', false, '電話番号変更のお願い',
     '電話番号は{phone_fw}です。以前の番号から変わりましたので、登録情報の更新をお願いします。{name}'),
    ('ja', false, '配送先の変更',
     '注文 {order} の配送先を変更したいです。{address} に送ってください。不在の場合は {phone} にご連絡ください。'),
    ('ja', false, '商品がまだ届きません',
     '{date_reiwa}に注文した{item}がまだ届きません。お問い合わせ番号（伝票番号）は {tracking} です。至急確認をお願いします。'),
    ('ja', false, '返金について',
     '{item}（{amount}）を返品しました。返金は登録のカード（下4桁 {card_last4}）にお願いします。'),
    ('ja', true,  'マイナンバーの登録',
     '本人確認のためマイナンバーを送ります。{my_number_sp} です。よろしくお願いいたします。{name}'),
    ('ja', true,  '支払調書の送付先について',
     '報酬の支払調書作成のため、個人番号 {my_number} と住所「{address}」を登録してください。'),
    ('ja', false, 'ログインできません',
     'アプリを {ver} に更新してからログインできなくなりました。登録メールアドレスは {email} です。'),
    ('ja', false, 'パスワード再設定メールが届かない',
     'パスワード再設定のメールが {email} に届きません。迷惑メールフォルダも確認済みです。'),
    ('ja', false, '領収書の発行依頼',
     '注文番号 {order}（{date_slash} 注文、{amount}）の領収書を「{name}」宛てで発行してください。'),
    ('ja', false, '登録情報の確認',
     '登録情報の確認をお願いします。氏名：{name}、生年月日：{birth_wareki}、電話：{phone}。間違いがあれば教えてください。'),
    ('ja', false, '折り返しのお電話希望',
     'お手数ですが {phone_digits} まで折り返しお電話ください。平日10時〜18時なら出られます。'),
    ('ja', false, '定期便の解約',
     '定期便を解約したいです。{date_reiwa}お届け予定の分から停止してください。登録メールは {email} です。'),
    ('ja', false, 'クーポンが使えません',
     'クーポンコード SPRING2024 が使えません。カートの合計は {amount} です。'),
    ('ja', false, '請求金額が違います',
     '{date_slash} の請求額が {amount} になっていますが、割引後の金額のはずです。カード番号 {card} の明細で確認しました。'),
    ('ja', false, '【至急】カードの不正利用',
     '身に覚えのない請求があります。カード {card_fw} を止めてください。連絡先は {phone_fw} です。'),
    ('ja', false, 'ルーターの管理画面に入れません',
     'ルーターのIPアドレスは {ip4} で、ファームウェアは {ver} です。管理画面に入れません。'),
    ('ja', false, '商品が破損していました',
     '届いた{item}が破損していました。写真を添付します。注文番号 {order}、伝票番号 {tracking}。'),
    ('ja', false, '住所変更',
     '引っ越しました。新しい住所は {address} です。電話番号（{phone}）は変わりません。'),
    ('ja', false, '支払い方法の変更',
     '支払い方法をクレジットカード（{card}）から銀行振込に変更できますか？'),
    ('ja', false, 'ポイントが付与されていない',
     '{date_reiwa}に購入した{item}（{amount}）のポイントが付与されていません。確認をお願いします。'),
    ('ja', false, '先日の電話の件',
     '先日お電話した{name}です。{date_slash}までにご連絡いただけると伺いましたが、まだありません。メールは {email} です。'),
    ('ja', false, '請求書の郵送先',
     '請求書の郵送先は {address} でお願いします。日中の連絡先は{phone}です。'),
    ('ja', false, '退会・個人情報の削除',
     '退会したいです。登録情報（{email}、{phone}、{address}）もすべて削除してください。個人情報の扱いが心配です。'),
    ('ja', false, '接続エラー（IPv6）',
     '自宅のIPv6アドレス {ip6} からアクセスするとエラー 503 が出ます。アプリのバージョンは {ver} です。'),
    ('ja', false, '再入荷の問い合わせ',
     '{item}の再入荷予定を教えてください。{date_reiwa}頃までに必要です。価格は {amount} のままでしょうか。'),
    -- English / mixed (17)
    ('en', false, 'Double charge on order {order}',
     'Hi, I was charged twice for order {order} on {date_en}. The card ending {card_last4} shows two charges of {amount}. Full number is {card} if you need it. Please refund one of them.'),
    ('en', false, 'Can''t log in after update',
     'Since updating to app {ver} I can''t log in. My account email is {email} and my phone is {phone}.'),
    ('en', false, 'Router admin page unreachable',
     'My router IP is {ip4} and I can''t reach the admin page. Firmware {ver}. I also tried from {ip6}, same result.'),
    ('en', false, 'Change of address',
     'I''ve moved. Please update my address to: {address}. Phone number stays the same ({phone}).'),
    ('en', false, 'Please call me back',
     'Please call me back on {phone}, best after 6pm. Thanks, {name}'),
    ('en', false, 'Refund status for {item}',
     'I returned the {item} ({amount}) on {date_en}, tracking no. {tracking}. When will the refund reach my card {card_hyphen}?'),
    ('en', false, 'Update my email address',
     'Please change my email from {email} to {email_alt}. I no longer use the old mailbox.'),
    ('en', false, 'Invoice for order {order}',
     'Could you send an invoice for order {order} to {email}? Please address it to {name}, {address}.'),
    ('en', false, '配送について / delivery',
     'Hello, 日本語は少しだけです。My order {order} has not arrived yet. 住所は {address} です. Phone: {phone}.'),
    ('en', true,  'My Number registration (マイナンバー)',
     'For the tax form I need to register my My Number (マイナンバー): {my_number_sp}. Is it OK to send it by email?'),
    ('en', false, 'Suspicious login alert',
     'I got a login alert from IP {ip4} at {time} on {date_en}. That wasn''t me! Please lock the account {email}.'),
    ('en', false, 'Cancel my subscription',
     'Please cancel my subscription from {date_en}. Account: {email}. The last payment of {amount} went to card {card}.'),
    ('en', false, 'Wrong item received',
     'I ordered {item} (order #{order}) but received something else. Please send the right one to my address on file (postcode/ZIP {postal}).'),
    ('en', false, 'Identity verification',
     'As requested, my details: name {name}, date of birth {birth_iso}, phone {phone}, email {email}.'),
    ('en', false, 'App crashes on launch',
     'App {ver} crashes on launch. Device: iOS 17.4.1, build 2024.05.01, crash ID 7f3a9c2e. Ordered {item} yesterday, can''t track it.'),
    ('en', false, 'Card declined',
     'My card {card} was declined for {amount}, but my bank says everything is fine. Billing postcode/ZIP is {postal}.'),
    ('en', false, 'Data deletion request',
     'Under data protection law I request deletion of my data. Email {email}, phone {phone}, address {address}. Please confirm in writing.');

UPDATE tpl SET n_all = x.r
FROM (SELECT k, row_number() OVER (PARTITION BY lang ORDER BY k) AS r FROM tpl) x WHERE x.k = tpl.k;
UPDATE tpl SET n_nomn = x.r
FROM (SELECT k, row_number() OVER (PARTITION BY lang ORDER BY k) AS r FROM tpl WHERE NOT needs_mn) x WHERE x.k = tpl.k;
CREATE TEMP TABLE tpl_cnt AS
SELECT lang, count(*)::int AS c_all, (count(*) FILTER (WHERE NOT needs_mn))::int AS c_nomn FROM tpl GROUP BY lang;
ANALYZE tpl, tpl_cnt;

-- -----------------------------------------------------------------------------
-- Tickets 1-20: hand-written showcase (tricky PII and look-alikes)
-- -----------------------------------------------------------------------------
INSERT INTO desk.tickets (id, customer_id, channel, language, subject, body, status, created_at, assigned_agent_id)
SELECT v.id, v.customer_id, v.channel, v.language, v.subject, v.body, v.status,
       a.t0 - v.age, v.agent
FROM anchor a, (VALUES
    ( 1,  1, 'email', 'ja', '二重請求について',
      '注文番号 12345678 の件です。カード 4111-1111-1111-1111 で支払いましたが、令和6年5月1日に二重で引き落とされていました。金額は¥12,800です。山田 太郎',
      'open', interval '2 days 5 hours', 1),
    ( 2,  2, 'phone', 'ja', '連絡先の変更',
      '[電話受付メモ] 佐藤 花子様より。電話番号は０９０－８７６５－４３２１です、とのこと。平日の日中にご連絡希望。メール hanako.sato@mail.example.jp も確認済み。',
      'pending', interval '6 days 3 hours', 2),
    ( 3,  3, 'chat',  'ja', '配送先について',
      '〒160-0022 に送ってください。住所は東京都新宿区新宿3-1-1 サンプルハイツ201です。鈴木一郎',
      'open', interval '1 hour 50 minutes', 3),
    ( 4,  4, 'web',   'ja', 'マイナンバー登録',
      'マイナンバー 613470298547 を登録したいです。電話は +81 90 1234 5678 です。',
      'pending', interval '12 days 2 hours', 7),
    ( 5,  5, 'email', 'ja', '商品が届かない',
      '2024/05/01 に注文した商品（¥3,980）が届きません。注文番号は 87654321、お問い合わせ伝票番号は 1234-5678-9012 です。会員番号 00123456。',
      'closed', interval '40 days 4 hours', 1),
    ( 6,  6, 'web',   'ja', 'アプリの不具合',
      'アプリのバージョンは v2.10.3.4 です。ルーターのIPは 192.0.2.15、IPv6 は 2001:db8::1 です。ビルド番号 3.14.159.265 と表示されます。',
      'closed', interval '75 days 6 hours', 6),
    ( 7, 13, 'email', 'en', 'Cannot reach router admin',
      'My router IP is 192.0.2.15 and the app says v2.10.3.4. IPv6 is 2001:db8::1. Windows build 10.0.19045.3930 if that matters.',
      'open', interval '1 day 7 hours', 4),
    ( 8, 14, 'chat',  'en', 'Charged twice',
      'Hi, it''s Bob O''Neil. Card 5555 5555 5555 4444 was charged $129.99 twice on 2024-05-01. Call me at (415) 555-0199 or email bob.oneil@example.org.',
      'closed', interval '31 days 2 hours', 5),
    ( 9, 15, 'phone', 'en', 'Callback request',
      '[Call notes] Caller Carol Jones asked us to ring her on +44 20 7946 0123. Postcode E1 6AN. Order 10079190 of 12/05/2024.',
      'closed', interval '55 days 1 hour', 4),
    (10,  7, 'email', 'ja', '支払い方法の変更',
      '口座振替ではなくカード払いにしたいです。カード番号：5105105105105100、有効期限 12/28（セキュリティコードは書きません）。渡辺',
      'closed', interval '90 days 8 hours', 2),
    (11,  8, 'web',   'ja', '【至急】不正利用',
      'カード ４１１１－１１１１－１１１１－１１１１ に身に覚えのない請求があります。本人確認用：中村　由美、昭和54年6月30日生まれ、０８０－１１２２－３３４４。',
      'pending', interval '3 days 9 hours', 7),
    (12, 17, 'chat',  'en', 'Amex declined',
      'Amex 378282246310005 was declined for £249.00. My mobile is +44 7700 900123, email emma.w@corp.example.com.',
      'open', interval '9 hours', NULL),
    (13,  9, 'email', 'ja', '見積もりの件',
      'お問い合わせ番号 2024-0501-0007、価格 ¥1,234,567、数量 3 です。電話は070-3456-7890です。小林',
      'closed', interval '101 days 3 hours', 3),
    (14, 19, 'web',   'en', 'Order status',
      'Order 10023456 shipped on 2024/05/01 according to the app (version 3.14.159.265, build 10.0.19045.3930). Nothing personal here, just want an ETA.',
      'closed', interval '64 days 5 hours', 5),
    (15, 10, 'email', 'ja', '個人番号の提出',
      '私のマイナンバーは 2847 5063 1973 です。加藤 恵（〒220-0012 神奈川県横浜市西区みなとみらい2-2-1 見本レジデンス1504）',
      'closed', interval '20 days 2 hours', 6),
    (16, 21, 'email', 'en', 'New address',
      'Hola, my email is maria.garcia@example.com. I moved to 77 Demo Road, Austin, TX 78701. Phone +1 (512) 555-0177.',
      'closed', interval '47 days 6 hours', 4),
    (17, 11, 'phone', 'ja', '折り返し希望',
      '[電話受付メモ] +81-90-9876-5432 に電話してほしいとのこと。メールは takuya.yoshida@corp.example.jp。吉田拓也様。',
      'open', interval '4 hours', 1),
    (18, 22, 'chat',  'en', 'Call me',
      'Call me on +61 491 570 156 or 0491 570 156, I''m in Sydney (NSW 2000). Cheers, Olivia',
      'pending', interval '15 days 3 hours', 8),
    (19, 12, 'web',   'ja', 'ポイントの確認',
      '令和6年5月1日（2024/05/01）の注文、合計 12,800円 でした。ポイント 128 pt が付いていません。',
      'closed', interval '110 days 4 hours', 2),
    (20, 24, 'email', 'en', 'Card on file',
      'Zoë here. My number is 206.555.0111, email zoe.cw@example.com, card 3782-822463-10005. Please update my profile.',
      'open', interval '2 days 1 hour', 5)
) AS v(id, customer_id, channel, language, subject, body, status, age, agent);

-- -----------------------------------------------------------------------------
-- Tickets 21-3000: generated from the templates
-- -----------------------------------------------------------------------------
INSERT INTO desk.tickets (id, customer_id, channel, language, subject, body, status, created_at, assigned_agent_id)
WITH b AS (
    SELECT id,
           1 + pg_temp.h('t-cust-' || id) % 500 AS customer_id,
           pg_temp.h('t-day-'  || id) AS hd,
           pg_temp.h('t-min-'  || id) AS hm,
           pg_temp.h('t-lang-' || id) AS hl,
           pg_temp.h('t-tpl-'  || id) AS ht,
           pg_temp.h('t-misc-' || id) AS hx
    FROM generate_series(21, 3000) AS id
), b2 AS (
    SELECT b.*, ck.kv, ck.has_mn,
           b.hd % 120 AS age_days,
           a.t0 - (b.hd % 120) * interval '1 day' - (1 + b.hm % 900) * interval '1 minute' AS created_at,
           CASE WHEN ck.country = 'JP' THEN CASE WHEN b.hl % 20 = 0 THEN 'en' ELSE 'ja' END
                ELSE CASE WHEN b.hl % 4 = 1 THEN 'ja' ELSE 'en' END END AS language,
           CASE WHEN b.hl / 20 % 20 < 7 THEN 'chat' WHEN b.hl / 20 % 20 < 13 THEN 'email'
                WHEN b.hl / 20 % 20 < 17 THEN 'web' ELSE 'phone' END AS channel
    FROM b JOIN ck ON ck.id = b.customer_id CROSS JOIN anchor a
), b3 AS (
    SELECT b2.*,
           CASE WHEN age_days < 3  THEN CASE WHEN hx % 5 = 0 THEN 'pending' ELSE 'open' END
                WHEN age_days < 21 THEN (ARRAY['open','pending','closed','closed'])[1 + hx % 4]
                ELSE CASE WHEN hx % 25 = 0 THEN 'pending' ELSE 'closed' END END AS status
    FROM b2
), b4 AS MATERIALIZED (
    SELECT b3.*,
           CASE WHEN status = 'open' AND hx / 7 % 3 = 0 THEN NULL
                WHEN status = 'pending' AND hx / 7 % 4 = 0 THEN CASE WHEN language = 'ja' THEN 7 ELSE 8 END
                WHEN language = 'ja' THEN (ARRAY[1, 2, 3, 6])[1 + hx / 11 % 4]
                ELSE (ARRAY[4, 5])[1 + hx / 11 % 2] END AS agent_id,
           (created_at - (hx % 14) * interval '1 day')::date AS event_day
    FROM b3
), f AS MATERIALIZED (
    SELECT b4.id, b4.customer_id, b4.channel, b4.language, b4.status, b4.created_at, b4.agent_id,
           t.subject, t.body,
           b4.kv || jsonb_build_object(
               'order',      coalesce(o.order_number, (10000000 + b4.id * 7)::text),
               'amount',     coalesce(pg_temp.fmt_amount(o.amount, o.currency, b4.hx), '¥3,980'),
               'item',       coalesce(o.item, 'item'),
               'tracking',   pg_temp.tracking(b4.hx),
               'date_slash', to_char(b4.event_day, 'YYYY/MM/DD'),
               'date_reiwa', pg_temp.wareki(b4.event_day),
               'date_en',    to_char(b4.event_day, 'FMMonth FMDD, YYYY'),
               'time',       to_char(b4.created_at - interval '3 hours', 'HH24:MI'),
               'ip4',        pg_temp.ip4(b4.hx),
               'ip6',        pg_temp.ip6(b4.hx),
               'ver',        pg_temp.ver(b4.hx),
               'agent',      coalesce(ag.display_name, 'support')) AS kv
    FROM b4
    JOIN tpl_cnt cnt ON cnt.lang = b4.language
    JOIN tpl t ON t.lang = b4.language
              AND CASE WHEN b4.has_mn THEN t.n_all = 1 + b4.ht % cnt.c_all
                       ELSE t.n_nomn = 1 + b4.ht % cnt.c_nomn END
    LEFT JOIN desk.agents ag ON ag.id = b4.agent_id
    LEFT JOIN LATERAL (
        SELECT o.order_number, o.amount, o.currency, o.item
        FROM desk.orders o
        WHERE o.customer_id = b4.customer_id
        ORDER BY (o.ordered_at <= b4.created_at) DESC, o.ordered_at DESC
        LIMIT 1) o ON true
)
SELECT f.id, f.customer_id, f.channel, f.language,
       pg_temp.fill(f.subject, f.kv),
       CASE WHEN f.channel = 'phone' THEN CASE WHEN f.language = 'ja' THEN '[電話受付メモ] ' ELSE '[Call notes] ' END ELSE '' END
           || pg_temp.fill(f.body, f.kv),
       f.status, f.created_at, f.agent_id
FROM f;
ANALYZE desk.tickets;

-- -----------------------------------------------------------------------------
-- Chat lines (temporary).  greet n and verify n belong together (question/answer).
-- -----------------------------------------------------------------------------
CREATE TEMP TABLE chat_line (kind text, lang text, n int, txt text);
INSERT INTO chat_line VALUES
    ('open',   'ja', 1, 'こんにちは。ポイントの有効期限を知りたいです。'),
    ('open',   'ja', 2, '{item}の在庫はありますか？'),
    ('open',   'ja', 3, '配送状況を教えてください。注文番号は{order}です。'),
    ('open',   'ja', 4, 'ログインできません。メールは{email}です。'),
    ('open',   'ja', 5, '電話番号を{phone_fw}に変更したいです。'),
    ('open',   'en', 1, 'Hi, quick question about my loyalty points balance.'),
    ('open',   'en', 2, 'Is the {item} back in stock?'),
    ('open',   'en', 3, 'Where is my order {order}? It''s been a week.'),
    ('open',   'en', 4, 'I can''t sign in, my email is {email}.'),
    ('open',   'en', 5, 'Your site seems to block my IP {ip4}, app {ver}.'),
    ('greet',  'ja', 1, 'お問い合わせありがとうございます。担当の{agent}です。ご本人確認のため、ご登録のお名前と電話番号を教えていただけますか。'),
    ('greet',  'ja', 2, 'お待たせいたしました。{agent}が承ります。恐れ入りますが、ご登録のメールアドレスをお知らせください。'),
    ('greet',  'ja', 3, 'ご連絡ありがとうございます。確認のため、ご登録のご住所をお伺いしてもよろしいでしょうか。'),
    ('greet',  'ja', 4, 'チャットサポートの{agent}です。ご本人確認として生年月日をお願いいたします。'),
    ('greet',  'en', 1, 'Hi, thanks for contacting us, this is {agent}. To verify your identity, could you confirm your name and phone number?'),
    ('greet',  'en', 2, 'Hello! {agent} here. Could you please confirm the email address on your account?'),
    ('greet',  'en', 3, 'Thanks for waiting. For security, may I have the address on your account?'),
    ('greet',  'en', 4, 'Hi, I''m {agent}. Can you confirm your date of birth for verification?'),
    ('verify', 'ja', 1, '{name}です。電話番号は{phone}です。'),
    ('verify', 'ja', 2, 'メールアドレスは {email} です。'),
    ('verify', 'ja', 3, '住所は{address}です。'),
    ('verify', 'ja', 4, '生年月日は{birth_wareki}です。念のためカード番号も書いておきます：{card}'),
    ('verify', 'en', 1, '{name}, phone {phone}.'),
    ('verify', 'en', 2, 'Sure, it''s {email}.'),
    ('verify', 'en', 3, '{address}'),
    ('verify', 'en', 4, 'DOB is {birth_iso}. My card is {card} if that helps.'),
    ('close',  'ja', 1, 'ありがとうございます。ご本人確認ができました。注文 {order} の状況を確認し、{date_slash}までにメールでご連絡いたします。'),
    ('close',  'ja', 2, '確認いたしました。なお、セキュリティのためカード番号などはチャットに書き込まないようお願いいたします。'),
    ('close',  'ja', 3, 'ありがとうございます。{item}の件、担当部署に引き継ぎました。他にご不明な点はございますか。'),
    ('close',  'en', 1, 'Thank you, you''re verified. I''ve checked order {order} and will email you by {date_en}.'),
    ('close',  'en', 2, 'Thanks. Just a reminder: please never paste full card numbers into chat.'),
    ('close',  'en', 3, 'Got it. I''ve passed the {item} issue to our logistics team. Anything else I can help with?'),
    ('thanks', 'ja', 1, 'ありがとうございました。'),
    ('thanks', 'ja', 2, 'よろしくお願いします。'),
    ('thanks', 'en', 1, 'Thanks!'),
    ('thanks', 'en', 2, 'Great, thank you.');
CREATE TEMP TABLE chat_cnt AS SELECT kind, lang, count(*)::int AS c FROM chat_line GROUP BY kind, lang;
ANALYZE chat_line, chat_cnt;

-- -----------------------------------------------------------------------------
-- Chat transcripts 1-6: hand-written, ages chosen around the 30-day retention
-- boundary.  Ages are measured from the anchor (midnight today), so "28 days
-- 3 hours" is < 30 days old and "31 days" is > 30 days old at any time of day.
-- -----------------------------------------------------------------------------
INSERT INTO desk.chat_transcripts (id, customer_id, ticket_id, started_at, transcript, agent_id, language)
SELECT v.id, v.customer_id, v.ticket_id, a.t0 - v.age, v.transcript, v.agent_id, v.language
FROM anchor a, (VALUES
    (1, 3, 3, interval '2 hours', 3, 'ja',
     '[22:00] 鈴木一郎: 〒160-0022 に送ってください。住所は東京都新宿区新宿3-1-1 サンプルハイツ201です。鈴木一郎' || E'\n' ||
     '[22:01] サポート 伊藤: ご連絡ありがとうございます。ご本人確認のため、ご登録の電話番号をお願いいたします。' || E'\n' ||
     '[22:03] 鈴木一郎: 03-1234-5678 です。メールは Ichiro.Suzuki@Example.com です。' || E'\n' ||
     '[22:05] サポート 伊藤: ありがとうございます。配送先を変更いたしました。'),
    (2, 1, NULL, interval '10 days 4 hours', 1, 'ja',
     '[20:00] 山田 太郎: カード 4111 1111 1111 1111 の請求が2回来ています（¥12,800 × 2、2024/05/01）。' || E'\n' ||
     '[20:02] サポート 佐藤: ご本人確認のため、マイナンバーではなくご登録の電話番号をお願いいたします。' || E'\n' ||
     '[20:03] 山田 太郎: 090-1234-5678 です。念のためマイナンバーは 4821 3759 0624 です。' || E'\n' ||
     '[20:05] サポート 佐藤: マイナンバーはチャットでは不要です。お控えください。返金手続きを進めます。'),
    (3, 13, NULL, interval '28 days 3 hours', 4, 'en',
     '[21:00] Alice Smith: Hi, my router at 192.0.2.15 can''t reach your service since app v2.10.3.4.' || E'\n' ||
     '[21:01] Emily (Support): Hi Alice, can you confirm the email on your account?' || E'\n' ||
     '[21:02] Alice Smith: alice.smith@example.com, phone +1 (212) 555-0143.' || E'\n' ||
     '[21:06] Emily (Support): Thanks, please try again from 2001:db8::1 after the update.'),
    (4, 14, 8, interval '31 days 2 hours 10 minutes', 5, 'en',
     '[21:50] Bob O''Neil: Hi, it''s Bob O''Neil. Card 5555 5555 5555 4444 was charged $129.99 twice on 2024-05-01.' || E'\n' ||
     '[21:51] James (Support): Sorry about that, Bob. Can you confirm your phone number?' || E'\n' ||
     '[21:52] Bob O''Neil: (415) 555-0199' || E'\n' ||
     '[21:55] James (Support): Thanks. The duplicate charge has been refunded.'),
    (5, 4, NULL, interval '45 days 5 hours', 7, 'ja',
     '[19:00] 高橋 美咲: 個人番号 613470298547 を登録したいのですが、チャットで送っても大丈夫ですか？' || E'\n' ||
     '[19:02] 中村 (スーパーバイザー): チャットでの送信はお控えください。専用フォームをご案内します。' || E'\n' ||
     '[19:03] 高橋 美咲: わかりました。住所は〒530-0001 大阪府大阪市北区梅田1-2-3、電話は+81 90 1234 5678です。'),
    (6, 15, NULL, interval '89 days 1 hour', 4, 'en',
     '[23:00] Carol Jones: Please ring me on +44 20 7946 0123, postcode E1 6AN.' || E'\n' ||
     '[23:01] Emily (Support): Of course, Carol. We will call you tomorrow between 9 and 11.')
) AS v(id, customer_id, ticket_id, age, agent_id, language, transcript);

-- -----------------------------------------------------------------------------
-- Chat transcripts 7-1500: generated.  Chat tickets from the last 89 days get
-- their transcript (the customer's first message is the ticket body); the rest
-- are quick questions without a ticket.
-- -----------------------------------------------------------------------------
INSERT INTO desk.chat_transcripts (id, customer_id, ticket_id, started_at, transcript, agent_id, language)
WITH lt AS (
    SELECT t.id AS ticket_id, t.customer_id, t.created_at, t.language, t.body, t.assigned_agent_id,
           row_number() OVER (ORDER BY t.id) AS k
    FROM desk.tickets t, anchor a
    WHERE t.channel = 'chat' AND t.id > 20 AND t.created_at > a.t0 - interval '89 days'
), g AS (
    SELECT id,
           pg_temp.h('chat-'      || id) AS h,
           pg_temp.h('chat-day-'  || id) AS hd,
           pg_temp.h('chat-line-' || id) AS hl
    FROM generate_series(7, 1500) AS id
), x AS (
    SELECT g.*, lt.ticket_id, lt.body AS ticket_body,
           coalesce(lt.customer_id, 1 + g.h % 500) AS customer_id,
           coalesce(lt.created_at - (2 + g.h % 9) * interval '1 minute',
                    a.t0 - (g.hd % 90) * interval '1 day' - (1 + g.h % 900) * interval '1 minute') AS started_at,
           lt.language AS ticket_lang, lt.assigned_agent_id
    FROM g CROSS JOIN anchor a LEFT JOIN lt ON lt.k = g.id - 6
), y AS (
    SELECT x.*, c.full_name, ck.kv,
           coalesce(x.ticket_lang,
                    CASE WHEN c.country = 'JP' THEN CASE WHEN x.hl % 10 = 0 THEN 'en' ELSE 'ja' END
                         ELSE CASE WHEN x.hl % 5 = 0 THEN 'ja' ELSE 'en' END END) AS language
    FROM x JOIN desk.customers c ON c.id = x.customer_id JOIN ck ON ck.id = x.customer_id
), z AS MATERIALIZED (
    SELECT y.*,
           coalesce(y.assigned_agent_id,
                    CASE WHEN y.language = 'ja' THEN (ARRAY[1, 2, 3, 6])[1 + y.h / 3 % 4]
                         ELSE (ARRAY[4, 5])[1 + y.h / 3 % 2] END) AS agent_id
    FROM y
), w AS MATERIALIZED (
    SELECT z.*, ag.display_name AS agent_name,
           z.kv || jsonb_build_object(
               'order',      coalesce(o.order_number, (10000000 + z.id * 7)::text),
               'item',       coalesce(o.item, 'item'),
               'date_slash', to_char(z.started_at + interval '3 days', 'YYYY/MM/DD'),
               'date_en',    to_char(z.started_at + interval '3 days', 'FMMonth FMDD, YYYY'),
               'ip4',        pg_temp.ip4(z.h),
               'ver',        pg_temp.ver(z.h),
               'agent',      ag.display_name) AS kv2,
           1 + z.hl / 10 % (SELECT c FROM chat_cnt WHERE kind = 'greet' AND lang = z.language) AS gi
    FROM z
    JOIN desk.agents ag ON ag.id = z.agent_id
    LEFT JOIN LATERAL (
        SELECT o.order_number, o.item FROM desk.orders o
        WHERE o.customer_id = z.customer_id
        ORDER BY (o.ordered_at <= z.started_at) DESC, o.ordered_at DESC
        LIMIT 1) o ON true
)
SELECT w.id, w.customer_id, w.ticket_id, w.started_at,
       '[' || to_char(w.started_at, 'YYYY-MM-DD HH24:MI') || '] ' || w.full_name || ': '
           || coalesce(w.ticket_body,
                       pg_temp.fill((SELECT txt FROM chat_line WHERE kind = 'open' AND lang = w.language
                                     AND n = 1 + w.hl / 50 % (SELECT c FROM chat_cnt WHERE kind = 'open' AND lang = w.language)), w.kv2))
       || E'\n[' || to_char(w.started_at + interval '1 minute', 'HH24:MI') || '] ' || w.agent_name || ': '
           || pg_temp.fill((SELECT txt FROM chat_line WHERE kind = 'greet' AND lang = w.language AND n = w.gi), w.kv2)
       || E'\n[' || to_char(w.started_at + interval '3 minutes', 'HH24:MI') || '] ' || w.full_name || ': '
           || pg_temp.fill((SELECT txt FROM chat_line WHERE kind = 'verify' AND lang = w.language AND n = w.gi), w.kv2)
       || E'\n[' || to_char(w.started_at + interval '6 minutes', 'HH24:MI') || '] ' || w.agent_name || ': '
           || pg_temp.fill((SELECT txt FROM chat_line WHERE kind = 'close' AND lang = w.language
                            AND n = 1 + w.hl / 250 % (SELECT c FROM chat_cnt WHERE kind = 'close' AND lang = w.language)), w.kv2)
       || CASE WHEN w.h % 2 = 0 THEN
               E'\n[' || to_char(w.started_at + interval '7 minutes', 'HH24:MI') || '] ' || w.full_name || ': '
               || (SELECT txt FROM chat_line WHERE kind = 'thanks' AND lang = w.language AND n = 1 + w.h / 2 % 2)
          ELSE '' END,
       w.agent_id, w.language
FROM w;

-- -----------------------------------------------------------------------------
-- Summary view for the demo, and planner statistics
-- -----------------------------------------------------------------------------
CREATE VIEW desk.dataset_summary AS
SELECT table_name, rows
FROM (
    SELECT 1, 'agents'::text,           count(*) FROM desk.agents
    UNION ALL SELECT 2, 'customers',        count(*) FROM desk.customers
    UNION ALL SELECT 3, 'orders',           count(*) FROM desk.orders
    UNION ALL SELECT 4, 'tickets',          count(*) FROM desk.tickets
    UNION ALL SELECT 5, 'chat_transcripts', count(*) FROM desk.chat_transcripts
) AS s(ord, table_name, rows)
ORDER BY ord;
COMMENT ON VIEW   desk.dataset_summary            IS 'Row count of every table in schema desk (for the demo). Example: SELECT * FROM desk.dataset_summary;';
COMMENT ON COLUMN desk.dataset_summary.table_name IS 'Table name (in schema desk).';
COMMENT ON COLUMN desk.dataset_summary.rows       IS 'Current number of rows.';

ANALYZE desk.agents, desk.customers, desk.orders, desk.tickets, desk.chat_transcripts;

-- Drop the session-local helpers now, so the file can be sourced again (\i) in
-- the same session.
DROP TABLE anchor, jp_city, west_city, product, ck, tpl, tpl_cnt, chat_line, chat_cnt;
DROP FUNCTION pg_temp.h(text), pg_temp.luhn_digit(text), pg_temp.mynumber_digit(text),
              pg_temp.fmt_card(text, text), pg_temp.wareki(date), pg_temp.fmt_amount(numeric, text, int),
              pg_temp.tracking(int), pg_temp.ip4(int), pg_temp.ip6(int), pg_temp.ver(int),
              pg_temp.fill(text, jsonb);

RESET jit;
