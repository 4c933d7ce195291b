-- Audit: DML rows with masked values, read/decrypt/unmask events, append-only log, auditor
-- views, verification, refusals.
-- Sequences do not roll back: the ids this file draws are given back at its end, so the files
-- after it see the ids they expect.
create temp table seqs as
  select s::text as seq, (pg_sequence_last_value(s)) as last from
    unnest(array['privacy.keyring_id_seq', 'privacy.mask_rules_id_seq']::regclass[]) s;
begin;

create function pg_temp.try(q text) returns text language plpgsql as $$
begin
  execute q;
  return 'ok';
exception when others then
  return sqlstate || ': ' || sqlerrm;
end $$;

create role regress_audit_agent;
create role regress_audit_supervisor;
create role regress_audit_nobody;
create schema desk;
grant usage on schema desk to regress_audit_agent, regress_audit_supervisor;
create table desk.customers (id int primary key, name text, email text, card privacy.encrypted_text, tier text);
grant select, insert, update, delete on desk.customers to regress_audit_agent, regress_audit_supervisor;
select privacy.create_key('audit_regress_key') > 0 as key_created;
select privacy.grant_decrypt('audit_regress_key', 'regress_audit_supervisor');
select privacy.mask_column('desk.customers', 'email', 'privacy.mask_email(email)');
select privacy.mask_column('desk.customers', 'name', 'privacy.mask_name(name)');
select privacy.unmask_column('desk.customers', 'email', 'regress_audit_supervisor');
grant select on masked.customers to regress_audit_agent, regress_audit_supervisor;

-- Refusals.
select pg_temp.try($$select privacy.audit_table('masked.customers')$$) as a_view;
select pg_temp.try($$select privacy.audit_table('privacy.audit_log')$$) as the_log;
select pg_temp.try($$select privacy.audit_table('desk.customers', array['nope'])$$) as unknown_column;
select pg_temp.try($$select privacy.audit_table('desk.customers', '{}')$$) as empty_columns;
select pg_temp.try($$select privacy.audit_table(NULL)$$) as null_table;
select pg_temp.try($$select privacy.audit_table('desk.customers', reads => NULL)$$) as null_reads;
set role regress_audit_agent;
select pg_temp.try($$select privacy.audit_table('desk.customers')$$) as not_admin;
select pg_temp.try($$select count(*) from privacy.audit_log$$) as agent_reads_log;
select pg_temp.try($$select * from privacy.audit_verify()$$) as agent_verifies;
reset role;

select privacy.audit_table('desk.customers', reads => true);
select tbl, columns, reads from privacy.audited_tables;
select tgname, tgenabled from pg_trigger where tgrelid = 'desk.customers'::regclass and not tgisinternal order by 1;
-- Only unaudit_table switches auditing off: not the table's owner, not replica mode.
select pg_temp.try($$alter table desk.customers disable trigger privacy_audit_insert$$) as disable_trigger;
select pg_temp.try($$alter table desk.customers disable trigger all$$) as disable_all;
select pg_temp.try($$alter table desk.customers enable trigger privacy_audit_update$$) as enable_origin_only;
select pg_temp.try($$alter trigger privacy_audit_delete on desk.customers rename to quiet$$) as rename_trigger;
select pg_temp.try($$drop trigger privacy_audit_update on desk.customers$$) as drop_trigger;

-- An agent's session: writes are logged with the default masks applied; the encrypted column
-- appears as its key reference.
set privacy.app_user = 'agent-7';
set role regress_audit_agent;
insert into desk.customers values
  (1, 'Alice Smith', 'alice@example.com', privacy.encrypt('4111 1111 1111 1111', 'audit_regress_key'), 'gold'),
  (2, 'Bob Jones', 'bob@example.com', privacy.encrypt('4000 0000 0000 0002', 'audit_regress_key'), 'basic'),
  (3, '山田 太郎', 'taro@example.jp', NULL, 'basic');
update desk.customers set tier = 'silver' where id in (2, 3);
delete from desk.customers where id = 3;
savepoint s;
update desk.customers set tier = 'lost' where id = 1;
rollback to savepoint s;
reset role;
select action, object, columns, row_key, old_values, new_values, rows, session_role, "current_role", app_user
  from privacy.audit_log where object = 'desk.customers' order by id;
select count(*) filter (where audit_log::text like '%alice@%' or audit_log::text like '%4111%') as plaintext_rows
  from privacy.audit_log;

-- Reads of audited columns are events, also through the masked view; count(*) reads no column.
set role regress_audit_agent;
select count(*) from desk.customers;
select id, tier from desk.customers order by id;
select email from masked.customers order by id;
reset role;
set role regress_audit_supervisor;
select email from masked.customers order by id;
select privacy.decrypt(card) is not null as decrypted from desk.customers order by id;
reset role;
set role regress_audit_agent;
select privacy.try_decrypt(card) from desk.customers order by id;
select pg_temp.try($$select privacy.decrypt(card) from desk.customers$$) as agent_decrypts;
reset role;
select privacy.audit_flush() as flushed;
select action, object, columns, rows, "current_role", app_user, detail
  from privacy.audit_log where action in ('SELECT', 'UNMASK', 'DECRYPT', 'DECRYPT_DENIED') order by id;

-- Admin events carry the actor.
select action, object, detail->>'event' as event, "current_role"
  from privacy.audit_log where action not in ('INSERT', 'UPDATE', 'DELETE', 'SELECT', 'UNMASK', 'DECRYPT', 'DECRYPT_DENIED')
 order by id;

-- Replica mode (as for a bulk load) does not switch the audit off.
set session_replication_role = replica;
update desk.customers set tier = 'replica' where id = 1;
reset session_replication_role;
select action, row_key, new_values->>'tier' as tier from privacy.audit_log
 where object = 'desk.customers' and new_values->>'tier' = 'replica';

-- TRUNCATE is one event.
truncate desk.customers;
select action, object, rows from privacy.audit_log where action = 'TRUNCATE';

-- The log is append-only, for superusers too.
select pg_temp.try($$update privacy.audit_log set app_user = 'x'$$) as update_log;
select pg_temp.try($$delete from privacy.audit_log$$) as delete_log;
select pg_temp.try($$truncate privacy.audit_log$$) as truncate_log;
select pg_temp.try($$delete from privacy.audit_seals$$) as delete_seals;
set session_replication_role = replica;
select pg_temp.try($$delete from privacy.audit_log$$) as delete_as_replica;
reset session_replication_role;

-- Auditor views.
select day = (now() at time zone 'UTC')::date as today, "current_role", app_user, object, action, events, rows
  from privacy.sensitive_access order by 2, 4, 5;
select "current_role", app_user, events, objects from privacy.suspicious_access('1 day', 2);
select pg_temp.try($$select * from privacy.suspicious_access('0', 1)$$) as zero_window;
select object, privilege, grantee, detail, last_used_at is not null as used, days_unused
  from privacy.access_review order by 1, 2, 3;

-- Verification recomputes every row hash; all rows match.
select ok, rows_checked = (select count(*) from privacy.audit_log) as all_checked, first_bad_id
  from privacy.audit_verify();
select privacy.audit_digest() like 'pg_privacy-audit-v1 block %' as digest_shape;

-- Unaudited: no more events.
select privacy.unaudit_table('desk.customers');
select count(*) as before from privacy.audit_log where object = 'desk.customers';
insert into desk.customers values (9, 'Zed', 'z@example.com', NULL, 'basic');
select count(*) as after from privacy.audit_log where object = 'desk.customers';
select count(*) as audited from privacy.audited_tables;

rollback;
select pg_catalog.setval(seq::regclass, coalesce(last, 1), last is not null) is not null as restored from seqs;
