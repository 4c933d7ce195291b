-- The settings of API.md: names, defaults, units and contexts.
begin;

-- (The root key command's value depends on where the test cluster lives: only check it is set.)
select name,
       case when name = 'privacy.root_key_command' then (setting <> '')::text else setting end as setting,
       unit, context, short_desc is not null as described
  from pg_settings where name like 'privacy.%' order by name;

select current_setting('privacy.audit_retention') as audit_retention,
       current_setting('privacy.worker_naptime') as worker_naptime,
       current_setting('privacy.audit_flush_interval') as audit_flush_interval;

-- app_user is for applications to set per request.
set local privacy.app_user = 'agent-0042';
show privacy.app_user;

-- Server-level settings cannot change in a session.
set local privacy.worker_naptime = '1s';
rollback;
begin;
set local privacy.root_key_command = 'cat /tmp/other.key';
rollback;
begin;

-- The root key command is visible to superusers only.
create role regress_agent nologin;
set role regress_agent;
show privacy.root_key_command;
rollback;
