-- privacy.status(): what a DBA checks first. The regress cluster preloads pg_privacy and loads
-- the fixed test root key "regress-root" (scripts/test), so the fingerprint is stable.
begin;

select s->>'version' = extversion as version_matches_extension,
       s->'preloaded' as preloaded,
       s->'root_key'->'loaded' as root_key_loaded,
       s->'root_key'->>'active_id' as active_id,
       s->'root_key'->'ids' as ids,
       s->'root_key'->>'source' as source,
       s->'root_key'->>'fingerprint' as fingerprint,
       s->'root_key'->'error' as error,
       (s->'root_key'->>'loaded_at')::timestamptz <= now() as loaded_before_now
  from privacy.status() s, pg_extension
 where extname = 'pg_privacy';

-- The status never holds key bytes (the test key starts with 5c0f...).
select privacy.status()::text like '%5c0f%' as leaks_key;

-- The fingerprint is for privacy_admin: compare it across clusters before a restore.
select privacy.root_key_fingerprint();

create role regress_agent nologin;
create role regress_admin nologin in role privacy_admin;
set role regress_agent;
select privacy.status()->'root_key'->>'active_id' as any_role_may_check_status;
savepoint refused;
select privacy.root_key_fingerprint();
rollback to savepoint refused;
reset role;
set role regress_admin;
select privacy.root_key_fingerprint() as admin_may_fingerprint;
reset role;

rollback;
