-- CREATE EXTENSION: schema, roles, privileges and comments.
begin;

select extname, extversion, n.nspname as schema, extrelocatable
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
 where extname = 'pg_privacy';

-- Roles exist, cannot log in, and say what they are for.
select rolname, rolcanlogin, shobj_description(oid, 'pg_authid')
  from pg_roles where rolname in ('privacy_admin', 'privacy_auditor') order by rolname;

-- Every function: its volatility, parallel label, and who may call it.
select p.proname, pg_get_function_identity_arguments(p.oid) as args,
       p.provolatile, p.proparallel, p.prosecdef,
       has_function_privilege('public', p.oid, 'execute') as public_may_execute,
       obj_description(p.oid, 'pg_proc') is not null as commented
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = 'privacy' order by 1, 2;

select obj_description('privacy'::regnamespace, 'pg_namespace') is not null as schema_commented;

-- Reinstalling in the same transaction works, and the roles are reused, not duplicated.
drop extension pg_privacy;
create extension pg_privacy;
select count(*) from pg_roles where rolname like 'privacy\_%';

-- The extension cannot move to another schema.
create schema elsewhere;
alter extension pg_privacy set schema elsewhere;
rollback;
