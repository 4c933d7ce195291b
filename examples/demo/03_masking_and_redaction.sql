-- Chapter 3: masking functions and PII redaction in free text (English and Japanese).
--
-- Masks are pure functions (IMMUTABLE, PARALLEL SAFE where they can be): the building blocks of
-- the role-aware masked views of the next capability. Redaction finds PII in free text by its
-- content (ticket bodies and chat logs are where most PII hides) in one linear-time pass.

-- A customer row, as a tier-1 agent should see it. (Cards and Individual Numbers are encrypted
-- since chapter 2; a supervisor's view would decrypt them, an agent's shows only the tail.)
SELECT id,
       privacy.mask_name(full_name)            AS name,
       privacy.mask_email(email)               AS email,
       privacy.mask_phone(phone)               AS phone,
       privacy.mask_card(privacy.decrypt(card_enc, id::text)) AS card,
       privacy.generalize(birth_date, 'decade') AS born
  FROM desk.customers WHERE id IN (1, 2, 13) ORDER BY id;

-- Analysts count and join without seeing anyone: a keyed pseudonym, the same for the same
-- value, irreversible without the key (which never leaves the server).
SELECT privacy.create_key('analytics', 'pseudonyms for reporting') AS key_id;
SELECT privacy.pseudonymize(email, 'analytics') AS customer, count(*) AS tickets
  FROM desk.tickets t JOIN desk.customers c ON c.id = t.customer_id
 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3;

-- Redacting ticket bodies: a Japanese and an English one. Everything that is not PII stays
-- exactly as it was: order numbers, dates (令和6年5月1日), prices, version strings.
SELECT id, body FROM desk.tickets WHERE id IN (1, 2, 6) ORDER BY id;
SELECT id, privacy.redact(body) AS redacted FROM desk.tickets WHERE id IN (1, 2, 6) ORDER BY id;

-- Full-width digits and hyphens, 〒 postal codes, and look-alikes that are not PII: a 16-digit
-- number that fails the Luhn check, a 12-digit number with a wrong Individual Number check
-- digit, and a version string shaped like an IP address.
SELECT privacy.redact('お電話は０９０－１２３４－５６７８、〒150-0002 へ。カード 4111 1111 1111 1112 は無効、番号 123456789012、app v2.10.3.4');

-- Where, exactly (character positions, 1-based):
SELECT * FROM privacy.detect_pii('電話 ０９０－１２３４－５６７８ / mail taro.yamada@example.jp');

-- Only some categories:
SELECT privacy.redact('mail alice@example.com, call 03-1234-5678', ARRAY['email']);

-- The desk's own identifiers as a custom category. A pattern that does not compile is refused
-- when it is written, never at query time.
INSERT INTO privacy.redaction_patterns (name, category, pattern)
VALUES ('order_number', 'order', '注文番号\s*\d{8}');
SELECT privacy.redact(body) AS redacted FROM desk.tickets WHERE id = 1;
\set ON_ERROR_STOP 0
INSERT INTO privacy.redaction_patterns VALUES ('broken', 'x', '(unclosed');
\set ON_ERROR_STOP 1
DELETE FROM privacy.redaction_patterns WHERE name = 'order_number';

-- Which columns hold PII? Judged by content, not by column name: the subject lines are clean,
-- the bodies are not.
SELECT * FROM privacy.scan_table('desk.tickets');
SELECT * FROM privacy.scan_table('desk.chat_transcripts', 500);
