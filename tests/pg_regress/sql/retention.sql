-- Retention: policies, legal holds, dry runs, runs, anonymize once, refusals.
begin;

create function pg_temp.try(q text) returns text language plpgsql as $$
begin
  execute q;
  return 'ok';
exception when others then
  return sqlstate || ': ' || sqlerrm;
end $$;

create schema desk;
create table desk.chats (id int primary key, created_at timestamptz not null, channel text, customer int, body text);
insert into desk.chats
select g, now() - make_interval(days => g), case when g % 2 = 0 then 'chat' else 'phone' end, g % 5, 'hello ' || g
  from generate_series(1, 60) g;
create table desk.orders (id int primary key, ordered_on date not null, customer int, note text);
insert into desk.orders select g, current_date - g, g % 5, 'order ' || g from generate_series(1, 40) g;

-- Chats are kept 30 days; one customer's chats are under a legal hold.
select privacy.add_retention_policy('chats_30d', 'desk.chats', 'created_at', '30 days',
                                    filter => $$channel = 'chat'$$, batch_size => 4) as policy_id;
select privacy.place_legal_hold('desk.chats', 'customer = 2', 'dispute #1042') as hold_id;
select name, tbl, time_column, keep, action, filter, batch_size, schedule, enabled
  from privacy.retention_policies;
select tbl, filter, reason, released_at from privacy.legal_holds;

-- A dry run counts and changes nothing; a run purges in batches and records itself.
select * from privacy.run_retention('chats_30d', dry_run => true);
select count(*) as chats_before from desk.chats;
select * from privacy.run_retention('chats_30d');
select count(*) filter (where channel = 'chat' and created_at < now() - interval '30 days') as due_left,
       count(*) filter (where channel = 'chat' and created_at < now() - interval '30 days' and customer = 2) as held_left,
       count(*) as chats_after
  from desk.chats;
select policy, rows_processed, batches, status, error, rows_held from privacy.retention_runs order by id;
select kind, target, rows_done, state from privacy.jobs where kind = 'retention';

-- Anonymize: the table's default masks, each row once; held rows wait for the release.
select privacy.mask_column('desk.orders', 'note', $$note || ' [anonymized]'$$);
select privacy.add_retention_policy('orders_10d', 'desk.orders', 'ordered_on', '10 days',
                                    action => 'anonymize', batch_size => 7) as policy_id;
select privacy.place_legal_hold('desk.orders', 'customer = 1', 'audit 2026') as hold_id;
select * from privacy.run_retention('orders_10d');
select count(*) filter (where note like '% [anonymized]') as anonymized,
       count(*) filter (where note like '% [anonymized] [anonymized]') as twice,
       count(*) filter (where ordered_on < current_date - 10 and note not like '% [anonymized]') as not_yet
  from desk.orders;
select count(*) as deferred from privacy.retention_deferred;
select privacy.release_legal_hold(id) from privacy.legal_holds where reason = 'audit 2026';
select * from privacy.run_retention('orders_10d');
select * from privacy.run_retention('orders_10d');
select count(*) filter (where note like '% [anonymized]') as anonymized,
       count(*) filter (where note like '% [anonymized] [anonymized]') as twice
  from desk.orders;

-- Refusals.
select pg_temp.try($$select privacy.add_retention_policy('x', 'desk.chats', 'channel', '1 day')$$) as not_a_time;
select pg_temp.try($$select privacy.add_retention_policy('x', 'desk.chats', 'nosuch', '1 day')$$) as unknown_column;
select pg_temp.try($$select privacy.add_retention_policy('x', 'desk.chats', 'created_at', '-1 day')$$) as negative_keep;
select pg_temp.try($$select privacy.add_retention_policy('x', 'desk.chats', 'created_at', '1 day', action => 'archive')$$) as unknown_action;
select pg_temp.try($$select privacy.add_retention_policy('x', 'desk.chats', 'created_at', '1 day', filter => 'pg_sleep(1) is null')$$) as volatile_filter;
select pg_temp.try($$select privacy.add_retention_policy('x', 'desk.chats', 'created_at', '1 day', filter => '(select true)')$$) as subquery_filter;
select pg_temp.try($$select privacy.add_retention_policy('x', 'desk.chats', 'created_at', '1 day', filter => 'channel')$$) as not_boolean;
select pg_temp.try($$select privacy.add_retention_policy('chats_30d', 'desk.chats', 'created_at', '1 day')$$) as duplicate;
select pg_temp.try($$select privacy.add_retention_policy('x', 'desk.chats', 'created_at', '1 day', action => 'anonymize')$$) as anonymize_without_masks;
select pg_temp.try($$select privacy.place_legal_hold('desk.chats', 'customer = 1', '')$$) as hold_without_reason;
select pg_temp.try($$select privacy.release_legal_hold(100000)$$) as unknown_hold;
select pg_temp.try($$select privacy.drop_retention_policy('nosuch')$$) as unknown_policy;
select pg_temp.try($$select privacy.run_retention('nosuch')$$) as run_unknown;

-- Only privacy_admin manages retention; the worker's step is for the worker.
create role regress_clerk;
grant usage on schema desk to regress_clerk;
set role regress_clerk;
select pg_temp.try($$select privacy.add_retention_policy('x', 'desk.chats', 'created_at', '1 day')$$) as add;
select pg_temp.try($$select privacy.place_legal_hold('desk.chats', 'true', 'x')$$) as hold;
select pg_temp.try($$select * from privacy.run_retention()$$) as run;
select pg_temp.try($$select privacy._worker_step()$$) as step;
select pg_temp.try($$select count(*) from privacy.retention_runs$$) as read_runs;
reset role;

-- A policy whose table lost its time column fails alone; the others go on.
select privacy.set_retention_enabled('orders_10d', false);
alter table desk.chats rename column created_at to started_at;
update privacy.retention_policies set next_run_at = now() - interval '1 minute';
select privacy._worker_step() > 0 as started;
select privacy._worker_step() > 0 as failed_and_recorded;
select privacy._worker_step() as nothing_due;
select policy, status, error from privacy.retention_runs where run_by = 'pg_privacy worker';
select name, enabled, next_run_at > now() as rescheduled from privacy.retention_policies order by id;
select privacy.drop_retention_policy('chats_30d');
select count(*) as policies_left from privacy.retention_policies;
rollback;
