-- Keys and encrypted columns: the life of a key, who may decrypt, and how failures look.
begin;

-- Failures are shown as SQLSTATE: message, so the expected output documents both.
create function pg_temp.try(q text) returns text language plpgsql as $$
begin
  execute q;
  return 'ok';
exception when others then
  return sqlstate || ': ' || sqlerrm;
end $$;

select privacy.create_key('customer_pii', 'cards, phones, Individual Numbers') as first_key_id;
select name, version, status, root_key_id, description from privacy.keys;
create temp table saved_index as select privacy.blind_index('alice@example.com', 'customer_pii') as b;

-- A support-desk table with an encrypted card column; the primary key is the context, so a
-- ciphertext copied to another row does not decrypt.
create table customers (id int primary key, name text, card privacy.encrypted_text);
insert into customers values
  (1, 'Alice Smith', privacy.encrypt('4111 1111 1111 1111', 'customer_pii', '1')),
  (2, '山田 太郎',   privacy.encrypt('5555-5555-5555-4444', 'customer_pii', '2')),
  (3, 'No Card',     privacy.encrypt(null::text, 'customer_pii', '3'));

-- Stored and shown as ciphertext: enc1: + base64url; 1 + 4 + 12 + 16 bytes of overhead.
select id, card::text like 'enc1:%' as armoured, length(card::text) as text_length,
       privacy.key_of(card) as key
  from customers order by id;
select id, privacy.decrypt(card, id::text) as card from customers order by id;

-- Two encryptions of the same value differ; empty and non-ASCII values round-trip.
select privacy.encrypt('same', 'customer_pii')::text <> privacy.encrypt('same', 'customer_pii')::text as differ;
select privacy.decrypt(privacy.encrypt('', 'customer_pii')) = '' as empty_round_trips;
select privacy.decrypt(privacy.encrypt('マイナンバー 123456789018 ✓', 'customer_pii'));
select privacy.decrypt(privacy.encrypt('\x00ff10'::bytea, 'customer_pii', 'ctx'), 'ctx');

-- Wrong context, moved ciphertext, malformed text.
select pg_temp.try($$select privacy.decrypt(card, '2') from customers where id = 1$$) as wrong_context;
select pg_temp.try($$select privacy.decrypt(card) from customers where id = 1$$) as missing_context;
select pg_temp.try($$select 'not a ciphertext'::privacy.encrypted_text$$) as malformed;
select pg_temp.try($$select 'enc1:AAAA'::privacy.encrypted_text$$) as too_short;
select pg_temp.try($$select 'enc1:AQAAAAHVSRRkXjhDu6MjxRkSCG4Cizh4oSqbDICPafUpfYG6fBPBkCCTJQj27JCfmMlq4g=='::privacy.encrypted_text$$) as padded;
select pg_temp.try($$select privacy.encrypt('x', 'no_such_key')$$) as unknown_key;
select pg_temp.try($$select privacy.encrypt('x', null)$$) as null_key_name;
select pg_temp.try($$select privacy.create_key('customer_pii')$$) as duplicate;
select pg_temp.try($$select privacy.create_key(' padded ')$$) as bad_name;

-- Who may decrypt: superusers; roles granted the key, directly or through membership (SET ROLE
-- included); nobody else, not even the table's owner. try_decrypt gives NULL instead of 42501.
create role regress_owner nologin;
create role regress_supervisors nologin;
create role regress_sam nologin in role regress_supervisors;
create role regress_agent nologin;
alter table customers owner to regress_owner;
grant select on customers to regress_supervisors, regress_agent;
select privacy.grant_decrypt('customer_pii', 'regress_supervisors');
select key_name, grantee from privacy.decrypt_grants;

set role regress_sam;
select id, privacy.decrypt(card, id::text) from customers where id = 1;
reset role;
set role regress_agent;
select pg_temp.try($$select privacy.decrypt(card, id::text) from customers where id = 1$$) as agent;
select id, privacy.try_decrypt(card, id::text) is null as hidden from customers where id = 1;
select privacy.key_of(card) as agent_may_see_which_key from customers where id = 1;
reset role;
set role regress_owner;
select pg_temp.try($$select privacy.decrypt(card, id::text) from customers where id = 1$$) as owner;
-- Key management is for privacy_admin.
select pg_temp.try($$select privacy.create_key('owner_key')$$) as owner_creates_key;
reset role;

select privacy.revoke_decrypt('customer_pii', 'regress_supervisors');
set role regress_sam;
select pg_temp.try($$select privacy.decrypt(card, id::text) from customers where id = 1$$) as after_revoke;
reset role;

-- A grant names its role by oid and by name: renamed (or dropped, and the oid reused by a new
-- role), the role no longer holds the grant. Fail closed.
select privacy.grant_decrypt('customer_pii', 'regress_supervisors');
alter role regress_supervisors rename to regress_supervisors_renamed;
set role regress_sam;
select pg_temp.try($$select privacy.decrypt(card, id::text) from customers where id = 1$$) as after_rename;
reset role;
alter role regress_supervisors_renamed rename to regress_supervisors;
select privacy.revoke_decrypt('customer_pii', 'regress_supervisors');

-- Rotation: new values use version 2; old ones still decrypt.
select privacy.rotate_key('customer_pii') as new_version;
insert into customers values (4, 'Bob O''Neil', privacy.encrypt('3782 822463 10005', 'customer_pii', '4'));
select id, privacy.key_of(card), privacy.decrypt(card, id::text) from customers where card is not null order by id;
select name, version, status from privacy.keys order by version;

-- Revoke, restore, destroy.
select privacy.revoke_key('customer_pii', 1);
select pg_temp.try($$select privacy.decrypt(card, '1') from customers where id = 1$$) as revoked;
select privacy.decrypt(card, '4') as other_version_still_works from customers where id = 4;
select privacy.restore_key('customer_pii', 1);
select privacy.decrypt(card, '1') as restored from customers where id = 1;
select privacy.revoke_key('customer_pii');
select pg_temp.try($$select privacy.encrypt('x', 'customer_pii')$$) as all_revoked;
-- A compromised key: revoke every version, then rotate so new writes use a fresh key at once.
select pg_temp.try($$select privacy.rotate_key('customer_pii')$$) as rotate_after_revoking_all;
-- Restoring brings the old versions back retired: the new version stays the active one.
select privacy.restore_key('customer_pii');
select name, version, status from privacy.keys order by version;
select privacy.destroy_key('customer_pii', 1);
select pg_temp.try($$select privacy.decrypt(card, '1') from customers where id = 1$$) as destroyed;
select pg_temp.try($$select privacy.restore_key('customer_pii', 1)$$) as restore_destroyed;
select privacy.key_of(card) as still_labelled from customers where id = 1;
select name, version, status, (select wrapped_key is null from privacy.keyring k where k.id = keys.id) as bytes_erased
  from privacy.keys order by version;

-- Per-customer keys: shredding one customer's key erases that customer only.
select privacy.create_key('customer:1') > 0 as created, privacy.create_key('customer:2') > 0 as created;
create table notes (customer_id int, note privacy.encrypted_text);
insert into notes values (1, privacy.encrypt('Alice called about her card', 'customer:1')),
                         (2, privacy.encrypt('山田様: 住所変更', 'customer:2'));
select privacy.destroy_key('customer:1');
select customer_id, privacy.try_decrypt(note) is not null as readable,
       pg_temp.try(format('select privacy.decrypt(%L::privacy.encrypted_text)', note)) as outcome
  from notes order by customer_id;

-- Blind index: equality search without decrypting; normalised (full-width, case, spaces).
select encode(privacy.blind_index('Alice@Example.com', 'customer_pii'), 'hex')
     = encode(privacy.blind_index(' alice@example.com', 'customer_pii'), 'hex') as case_and_space,
       privacy.blind_index('０９０－１２３４', 'customer_pii') = privacy.blind_index('090-1234', 'customer_pii') as full_width,
       privacy.blind_index('a@example.com', 'customer_pii') <> privacy.blind_index('b@example.com', 'customer_pii') as distinct_values,
       length(privacy.blind_index('x', 'customer_pii')) as bytes,
       privacy.blind_index('Alice@example.com', 'customer_pii') = (select b from saved_index)
         as survives_rotation_and_destroyed_v1;
set role regress_agent;
select pg_temp.try($$select privacy.blind_index('x', 'customer_pii')$$) as agent_blind_index;
reset role;

-- A single root key: nothing to rewrap.
select privacy.rewrap_keys();

-- Re-encryption after a rotation: values move to the active version in batches, in place.
create table cards (id int primary key, card privacy.encrypted_text, photo privacy.encrypted_bytea);
insert into cards select i, privacy.encrypt('card ' || i, 'customer_pii', i::text),
                            privacy.encrypt(convert_to('photo ' || i, 'UTF8'), 'customer_pii')
  from generate_series(1, 1000) i;
select privacy.rotate_key('customer_pii') as version;
select privacy.key_of(card), count(*) from cards group by 1;
select privacy.reencrypt('cards', 'card', 100, 'id') as moved;
select privacy.reencrypt('cards', 'photo') as moved_bytea;
select privacy.reencrypt('cards', 'card', 100, 'id') as nothing_left;
select privacy.key_of(card) as card_key, privacy.key_of(photo) as photo_key, count(*),
       count(*) filter (where privacy.decrypt(card, id::text) = 'card ' || id) as cards_readable
  from cards group by 1, 2;
-- Every run is listed in privacy.jobs (shared memory: visible from other sessions while it
-- runs, and kept after a rollback, since the work did happen).
select kind, target, rows_done, rows_total_estimate, state, finished_at >= started_at as timed
  from privacy.jobs order by id;
select pg_temp.try($$select privacy.reencrypt('cards', 'nope')$$) as unknown_column;
select pg_temp.try($$select privacy.reencrypt('cards', 'id')$$) as not_encrypted;
select pg_temp.try($$select privacy.reencrypt('cards', 'card', 0)$$) as bad_batch;
select pg_temp.try($$select privacy.reencrypt('no_such_table', 'card')$$) as unknown_table;
select pg_temp.try($$call privacy.reencrypt_proc('cards', 'card')$$) as proc_needs_no_transaction;
set role regress_agent;
select pg_temp.try($$select privacy.reencrypt('cards', 'card')$$) as agent_cannot_update;
reset role;

-- The types' labels.
select typname, typcategory, typstorage from pg_type
 where typnamespace = 'privacy'::regnamespace and typname like 'encrypted%' order by 1;
rollback;
