-- Masking functions and PII redaction: outputs on examples, labels, and failures.
begin;

create function pg_temp.try(q text) returns text language plpgsql as $$
begin
  execute q;
  return 'ok';
exception when others then
  return sqlstate || ': ' || sqlerrm;
end $$;

-- Partial masks, by character (multi-byte text included).
select privacy.mask_partial('4111111111111111', 0, 4) as card_tail,
       privacy.mask_partial('Hello', 1, 1, '#') as custom_fill,
       privacy.mask_partial('東京都渋谷区', 2, 0) as japanese,
       privacy.mask_partial('abc', 2, 2) as too_short_is_masked_whole,
       privacy.mask_partial('secret', 0, 0, '') as emptied;
select pg_temp.try($$select privacy.mask_partial('x', -1, 0)$$) as negative_keep;

select privacy.mask_email('alice@example.com') as email,
       privacy.mask_email('hanako.sato@mail.example.jp') as email_jp,
       privacy.mask_email('not-an-email') as not_an_email;
select privacy.mask_phone('090-1234-5678') as mobile,
       privacy.mask_phone('０９０－１２３４－５６７８') as full_width,
       privacy.mask_phone('+1 (212) 555-0143') as us;
select privacy.mask_card('4111 1111 1111 1111') as spaced,
       privacy.mask_card('5555-5555-5555-4444') as hyphenated,
       privacy.mask_card('378282246310005') as amex;
select privacy.mask_name('Alice Smith') as en, privacy.mask_name('山田 太郎') as ja,
       privacy.mask_name('鈴木一郎') as ja_no_space, privacy.mask_name('Jean-Luc Picard') as hyphenated;
select privacy.mask_my_number('123456789012') as my_number;
select privacy.mask_email(null) is null as strict;

-- Generalisation.
select privacy.generalize('1987-06-15'::date, 'decade') as decade,
       privacy.generalize('2024-05-01'::date, 'week') as week_monday,
       privacy.generalize('2024-05-17'::date, 'quarter') as quarter,
       privacy.generalize(37::bigint, 10::bigint) as bucket,
       privacy.generalize(-1, 10) as negative_bucket,
       privacy.generalize(43250.75::numeric, 1000::numeric) as numeric_bucket;
set local timezone = 'Asia/Tokyo';
select privacy.generalize('2024-05-17 23:30+00'::timestamptz, 'day') as tokyo_day;
select pg_temp.try($$select privacy.generalize(current_date, 'hour')$$) as bad_unit;
select pg_temp.try($$select privacy.generalize(5, 0)$$) as zero_step;

-- Noise stays within the ratio.
select bool_and(privacy.noise(1000, 0.1) between 900 and 1100) as within_ratio
  from generate_series(1, 200);
select pg_temp.try($$select privacy.noise(1, 2)$$) as bad_ratio;

-- Pseudonyms: keyed, deterministic, distinct per key name.
select privacy.create_key('analytics') > 0 as key_created;
select privacy.create_key('other') > 0 as key_created;
select privacy.pseudonymize('alice@example.com', 'analytics') = privacy.pseudonymize('alice@example.com', 'analytics') as deterministic,
       privacy.pseudonymize('alice@example.com', 'analytics') <> privacy.pseudonymize('bob@example.com', 'analytics') as distinct_values,
       privacy.pseudonymize('alice@example.com', 'analytics') <> privacy.pseudonymize('alice@example.com', 'other') as distinct_keys,
       privacy.pseudonymize('alice@example.com', 'analytics') ~ '^tok_[a-z2-7]{26}$' as shape;

-- Redaction: English and Japanese support messages; non-PII stays as it is.
select privacy.redact('Please call me at 090-1234-5678 or mail alice@example.com, card 4111 1111 1111 1111.');
select privacy.redact('電話番号は０９０－１２３４－５６７８です。〒150-0002 に送ってください。マイナンバー 123456789018');
select privacy.redact('My router is 192.0.2.15 and 2001:db8::1; app v2.10.3.4, order 12345678, ¥12,800, 令和6年5月1日');
select privacy.redact('Card 4111 1111 1111 1112 fails Luhn; 123456789012 fails the check digit; 256.1.1.1 is no IP');
select privacy.redact('mail alice@example.com, call 03-1234-5678', array['email']) as only_email;
select pg_temp.try($$select privacy.redact('x', array['passport'])$$) as unknown_category;
select privacy.redact(null) is null as null_in_null_out;

select * from privacy.detect_pii('電話 ０９０－１２３４－５６７８ / mail a@example.jp');

-- Custom patterns: refused at write time when invalid, used at once when valid.
insert into privacy.redaction_patterns (name, category, pattern)
values ('ticket_ref', 'ticket', 'TKT-[0-9]{6}');
select privacy.redact('See TKT-123456 for alice@example.com');
select pg_temp.try($$insert into privacy.redaction_patterns values ('broken', 'x', '(unclosed')$$) as bad_regex;
select pg_temp.try($$insert into privacy.redaction_patterns values ('empty', 'x', 'a*')$$) as matches_empty;
select pg_temp.try($$insert into privacy.redaction_patterns values ('huge', 'x', '\w{1000}{1000}')$$) as too_large;
select pg_temp.try($$insert into privacy.redaction_patterns values ('caps', 'Bad Category', 'x')$$) as bad_category;
update privacy.redaction_patterns set enabled = false where name = 'ticket_ref';
select privacy.redact('See TKT-123456') as disabled_pattern;

-- Which columns hold PII, by content.
create table tickets (id int, subject text, body text, amount numeric);
insert into tickets values
  (1, 'Refund', 'Call 090-1234-5678 please', 10),
  (2, 'Login', 'My mail is bob@example.org', 20),
  (3, '配送', '〒150-0002 東京都渋谷区', 30),
  (4, 'Hello', 'Nothing personal here', 40);
select * from privacy.scan_table('tickets');

-- Labels: what the planner may assume.
select p.proname, pg_get_function_identity_arguments(p.oid) as args, p.provolatile, p.proparallel
  from pg_proc p where p.pronamespace = 'privacy'::regnamespace
   and p.proname in ('mask_partial','mask_email','mask_phone','mask_card','mask_name','mask_my_number',
                     'generalize','pseudonymize','noise','redact','detect_pii','scan_table')
 order by 1, 2;
rollback;
