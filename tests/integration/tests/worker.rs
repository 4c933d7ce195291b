//! The background worker: a launcher that starts one worker per database where pg_privacy is
//! installed, workers that call privacy._worker_step() without anyone asking, and come back
//! after a crash, a SIGTERM or a reload; a fast shutdown does not wait for them.
//!
//! The step used here is a stand-in defined in each test's database (the real one is the
//! retention step of sql/retention.sql): it records each call in a table.

use pg_privacy_integration::{wait_until, Client, Cluster};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn cluster(name: &str) -> Cluster {
    Cluster::builder(name)
        .setting("privacy.worker_naptime = 1")
        .start()
}

/// Database name -> pid of its pg_privacy worker, as pg_stat_activity shows them; none when the
/// connection was lost (a crash restart may end it between connecting and asking: `eventually`
/// then tries again).
fn workers(c: &mut Client) -> BTreeMap<String, i32> {
    c.query(
        "SELECT datname, pid FROM pg_stat_activity WHERE backend_type = 'pg_privacy worker'",
        &[],
    )
    .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    .unwrap_or_default()
}

fn worker_pid(c: &mut Client, db: &str) -> Option<i32> {
    workers(c).get(db).copied()
}

/// Polls `f` with a fresh connection to `db` each time (the server may be restarting after a
/// crash), for at most `seconds`.
fn eventually<T>(
    cluster: &Cluster,
    db: &str,
    seconds: u64,
    mut f: impl FnMut(&mut Client) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if let Ok(mut c) = cluster.try_connect_db(db, "postgres") {
            while Instant::now() < deadline {
                match c.is_closed() {
                    true => break,
                    false => {
                        if let Some(v) = f(&mut c) {
                            return Some(v);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Replaces privacy._worker_step() in this database by a stand-in with `body` (plpgsql
/// returning an integer).
fn stand_in_step(c: &mut Client, body: &str) {
    // One implicit transaction: the worker never sees the database without a step.
    c.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS public.worker_calls (id bigserial PRIMARY KEY, \
             at timestamptz NOT NULL DEFAULT clock_timestamp(), \
             pid int NOT NULL DEFAULT pg_backend_pid(), \
             search_path text DEFAULT current_setting('search_path')); \
         DO $$ DECLARE f regprocedure := to_regprocedure('privacy._worker_step()'); BEGIN \
           IF f IS NOT NULL AND EXISTS (SELECT FROM pg_depend WHERE classid = 'pg_proc'::regclass \
                                        AND objid = f AND deptype = 'e') THEN \
             ALTER EXTENSION pg_privacy DROP FUNCTION privacy._worker_step(); \
           END IF; \
         END $$; \
         DROP FUNCTION IF EXISTS privacy._worker_step(); \
         CREATE FUNCTION privacy._worker_step() RETURNS integer LANGUAGE plpgsql \
             AS $step$ {body} $step$;"
    ))
    .unwrap();
}

const RECORD_CALL: &str = "BEGIN INSERT INTO public.worker_calls DEFAULT VALUES; RETURN 0; END";

fn calls(c: &mut Client) -> i64 {
    c.query_one("SELECT count(*) FROM public.worker_calls", &[])
        .unwrap()
        .get(0)
}

fn status_worker(c: &mut Client) -> serde_json::Value {
    c.query_one("SELECT privacy.status()->'worker'", &[])
        .unwrap()
        .get(0)
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: sends a signal to a server process of the test's own cluster.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
}

#[test]
fn one_worker_per_database_with_the_extension_and_none_elsewhere() {
    let cluster = cluster("perdb");
    let mut c = cluster.with_extension();
    c.batch_execute("CREATE DATABASE two").unwrap();
    c.batch_execute("CREATE DATABASE three").unwrap();
    cluster
        .connect_db("two", "postgres")
        .batch_execute("CREATE EXTENSION pg_privacy")
        .unwrap();
    assert!(
        wait_until(
            &mut c,
            "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pg_privacy worker'",
            10
        ),
        "workers: {:?}",
        workers(&mut c)
    );
    // The launcher probes "three" now and then (a worker that finds no pg_privacy and leaves
    // at once); none stays there.
    let mut seen_before = false;
    for _ in 0..15 {
        let now = workers(&mut c);
        assert!(
            now.contains_key("postgres") && now.contains_key("two"),
            "{now:?}"
        );
        let seen = now.contains_key("three");
        assert!(!(seen && seen_before), "a worker stays in three: {now:?}");
        seen_before = seen;
        std::thread::sleep(Duration::from_millis(200));
    }
    let (launchers, appname): (i64, Option<String>) = {
        let r = c
            .query_one(
                "SELECT (SELECT count(*) FROM pg_stat_activity \
                          WHERE backend_type = 'pg_privacy launcher' AND datname IS NULL), \
                        (SELECT min(application_name) FROM pg_stat_activity \
                          WHERE backend_type = 'pg_privacy worker')",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(launchers, 1);
    assert_eq!(appname.as_deref(), Some("pg_privacy worker"));

    // CREATE EXTENSION wakes the launcher when it commits: a worker within about a naptime,
    // although "three" was found without pg_privacy a moment ago.
    let started = Instant::now();
    cluster
        .connect_db("three", "postgres")
        .batch_execute("CREATE EXTENSION pg_privacy")
        .unwrap();
    assert!(
        wait_until(
            &mut c,
            "SELECT EXISTS (SELECT FROM pg_stat_activity \
                            WHERE backend_type = 'pg_privacy worker' AND datname = 'three')",
            5
        ),
        "no worker for three: {:?}",
        workers(&mut c)
    );
    eprintln!(
        "worker for a new CREATE EXTENSION after {:?}",
        started.elapsed()
    );

    // DROP DATABASE is not refused because of the worker ("being accessed by other users"),
    // and neither is a copy of a database that has one.
    let started = Instant::now();
    c.batch_execute("CREATE DATABASE copy_of_two TEMPLATE two")
        .unwrap();
    c.batch_execute("DROP DATABASE three").unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        wait_until(
            &mut c,
            "SELECT array_agg(datname ORDER BY datname) = '{copy_of_two,postgres,two}' \
               FROM pg_stat_activity WHERE backend_type = 'pg_privacy worker'",
            10
        ),
        "workers: {:?}",
        workers(&mut c)
    );
    assert!(!cluster.log().contains("terminated by signal"));
}

#[test]
fn the_worker_calls_the_step_again_and_again_without_anyone_asking() {
    let cluster = cluster("step");
    let mut c = cluster.with_extension();
    stand_in_step(&mut c, RECORD_CALL);
    assert!(
        wait_until(&mut c, "SELECT count(*) >= 3 FROM public.worker_calls", 10),
        "calls: {}",
        calls(&mut c)
    );
    // All from the worker, one per naptime (1 s), each in its own transaction.
    let (workers_seen, span): (i64, f64) = {
        let r = c
            .query_one(
                "SELECT count(DISTINCT pid), extract(epoch FROM max(at) - min(at))::float8 \
                   FROM public.worker_calls",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(workers_seen, 1);
    assert!(span >= 1.5, "3 calls in {span} s: faster than the naptime");
    let pid = worker_pid(&mut c, "postgres").unwrap();
    let recorded: i32 = c
        .query_one("SELECT min(pid) FROM public.worker_calls", &[])
        .unwrap()
        .get(0);
    assert_eq!(recorded, pid);
    // The worker runs as a superuser: it searches no schema others may create objects in.
    let search_path: String = c
        .query_one("SELECT min(search_path) FROM public.worker_calls", &[])
        .unwrap()
        .get(0);
    assert_eq!(search_path, "pg_catalog, pg_temp");
}

#[test]
fn a_step_that_processed_rows_is_called_again_after_the_batch_pause_and_wake_runs_it_now() {
    let cluster = Cluster::builder("batches")
        .setting("privacy.worker_naptime = 600")
        .setting("privacy.retention_batch_pause = 20")
        .start();
    let mut c = cluster.with_extension();
    assert!(wait_until(
        &mut c,
        "SELECT (privacy.status()->'worker'->>'running')::boolean",
        10
    ));
    // Ten batches of one row, then nothing to do.
    stand_in_step(
        &mut c,
        "BEGIN \
           IF (SELECT count(*) FROM public.worker_calls) >= 10 THEN RETURN 0; END IF; \
           INSERT INTO public.worker_calls DEFAULT VALUES; RETURN 1; \
         END",
    );
    // The worker ran its first step at start and naps for 10 minutes: wake it.
    let woke: bool = c
        .query_one("SELECT privacy.worker_wake()", &[])
        .unwrap()
        .get(0);
    assert!(woke, "a worker serves this database");
    assert!(
        wait_until(&mut c, "SELECT count(*) = 10 FROM public.worker_calls", 5),
        "calls: {}",
        calls(&mut c)
    );
    let span: f64 = c
        .query_one(
            "SELECT extract(epoch FROM max(at) - min(at))::float8 FROM public.worker_calls",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        (0.15..3.0).contains(&span),
        "10 batches 20 ms apart took {span} s"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(calls(&mut c), 10, "nothing due: back to the naptime");

    // worker_wake is for privacy_admin, and wakes at commit.
    c.batch_execute("CREATE ROLE plain LOGIN").unwrap();
    let mut plain = cluster.connect("plain");
    let err = plain
        .query_one("SELECT privacy.worker_wake()", &[])
        .unwrap_err();
    assert_eq!(pg_privacy_integration::sqlstate(&err), "42501");
    let tick = |c: &mut Client| -> String {
        c.query_one("SELECT privacy.status()->'worker'->>'last_tick'", &[])
            .unwrap()
            .get(0)
    };
    let mut other = cluster.connect("postgres");
    let before = tick(&mut other);
    let mut tx = c.transaction().unwrap();
    tx.query_one("SELECT privacy.worker_wake()", &[]).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(tick(&mut other), before, "not before commit");
    tx.commit().unwrap();
    assert!(wait_until(
        &mut other,
        &format!("SELECT privacy.status()->'worker'->>'last_tick' <> '{before}'"),
        3
    ));
}

#[test]
fn a_failing_step_is_logged_without_its_message_and_the_worker_goes_on() {
    let cluster = cluster("failing");
    let mut c = cluster.with_extension();
    let pid = {
        assert!(wait_until(
            &mut c,
            "SELECT (privacy.status()->'worker'->>'running')::boolean",
            10
        ));
        worker_pid(&mut c, "postgres").unwrap()
    };
    stand_in_step(
        &mut c,
        "BEGIN INSERT INTO public.worker_calls DEFAULT VALUES; \
           RAISE EXCEPTION 'card 4111111111111111 is bad' USING ERRCODE = '22012'; END",
    );
    assert!(wait_until(
        &mut c,
        "SELECT (privacy.status()->'worker'->>'last_error')::boolean",
        5
    ));
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(calls(&mut c), 0, "each failed step was rolled back");
    assert_eq!(worker_pid(&mut c, "postgres"), Some(pid), "same worker");
    stand_in_step(&mut c, RECORD_CALL);
    assert!(wait_until(
        &mut c,
        "SELECT NOT (privacy.status()->'worker'->>'last_error')::boolean \
           AND (SELECT count(*) FROM public.worker_calls) > 0",
        5
    ));
    let log = cluster.log();
    assert!(
        log.contains("privacy._worker_step() failed with SQLSTATE 22012"),
        "{log}"
    );
    assert_eq!(
        log.matches("failed with SQLSTATE 22012").count(),
        1,
        "logged once while it kept failing"
    );
    assert!(
        !log.contains("4111111111111111"),
        "a data value reached the log"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_killed_worker_comes_back_and_keeps_working() {
    let cluster = cluster("crash");
    let mut c = cluster.with_extension();
    stand_in_step(&mut c, RECORD_CALL);
    assert!(wait_until(
        &mut c,
        "SELECT count(*) >= 1 FROM public.worker_calls",
        10
    ));
    let first = worker_pid(&mut c, "postgres").unwrap();

    // SIGKILL: the postmaster restarts every backend (crash recovery); the worker comes back.
    kill(first, libc::SIGKILL);
    drop(c);
    let second = eventually(&cluster, "postgres", 30, |c| {
        worker_pid(c, "postgres").filter(|p| *p != first)
    })
    .expect("a new worker after the crash");
    let mut c = eventually(&cluster, "postgres", 10, |c| {
        c.simple_query("SELECT 1").ok().map(|_| ())
    })
    .map(|_| cluster.connect("postgres"))
    .unwrap();
    assert!(
        wait_until(
            &mut c,
            &format!("SELECT count(*) >= 2 FROM public.worker_calls WHERE pid = {second}"),
            10
        ),
        "the new worker calls the step"
    );
    assert_eq!(workers(&mut c).len(), 1, "one worker, not two");

    // SIGTERM: it ends within a second (exit code 0), and the launcher starts another.
    kill(second, libc::SIGTERM);
    let started = Instant::now();
    assert!(wait_until(
        &mut c,
        &format!("SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = {second})"),
        2
    ));
    eprintln!("worker left {:?} after SIGTERM", started.elapsed());
    let third = eventually(&cluster, "postgres", 10, |c| {
        worker_pid(c, "postgres").filter(|p| *p != second)
    })
    .expect("the launcher starts a new worker");
    assert_ne!(third, first);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(workers(&mut c).len(), 1, "one worker, not two");
    let log = cluster.log();
    assert!(
        !log.contains(&format!("(PID {second}) exited with exit code")),
        "SIGTERM is a clean exit"
    );
}

#[test]
fn a_fast_shutdown_with_workers_running_is_quick() {
    let cluster = cluster("shutdown");
    let mut c = cluster.with_extension();
    c.batch_execute("CREATE DATABASE other").unwrap();
    cluster
        .connect_db("other", "postgres")
        .batch_execute("CREATE EXTENSION pg_privacy")
        .unwrap();
    assert!(wait_until(
        &mut c,
        "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pg_privacy worker'",
        10
    ));
    // One worker is in the middle of a long step: SIGTERM cancels it (rolled back).
    stand_in_step(
        &mut cluster.connect_db("other", "postgres"),
        "BEGIN INSERT INTO public.worker_calls DEFAULT VALUES; PERFORM pg_sleep(60); RETURN 0; END",
    );
    assert!(wait_until(
        &mut c,
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'pg_privacy worker' \
            AND datname = 'other' AND wait_event = 'PgSleep')",
        10
    ));
    drop(c);
    let started = Instant::now();
    cluster.stop();
    let took = started.elapsed();
    eprintln!("fast shutdown took {took:?}");
    assert!(took < Duration::from_secs(5), "fast shutdown took {took:?}");
    let log = cluster.log();
    assert!(!log.contains("pg_privacy worker\" (PID"), "{log}");
    assert!(!log.contains("pg_privacy launcher\" (PID"), "{log}");
    assert!(
        !log.contains("failed with SQLSTATE"),
        "a cancelled step is no failure: {log}"
    );
    cluster.start();
    let calls: i64 = cluster
        .connect_db("other", "postgres")
        .query_one("SELECT count(*) FROM public.worker_calls", &[])
        .unwrap()
        .get(0);
    assert_eq!(calls, 0, "the cancelled step was rolled back");
}

#[test]
fn a_reload_changes_the_workers_naptime() {
    let cluster = cluster("sighup");
    let mut c = cluster.with_extension();
    assert!(wait_until(
        &mut c,
        "SELECT (privacy.status()->'worker'->>'naptime')::int = 1 \
            AND (privacy.status()->'worker'->>'running')::boolean",
        10
    ));
    let pid = worker_pid(&mut c, "postgres").unwrap();
    cluster.append_conf("privacy.worker_naptime = '7s'");
    cluster.reload();
    assert!(
        wait_until(
            &mut c,
            "SELECT (privacy.status()->'worker'->>'naptime')::int = 7",
            5
        ),
        "{}",
        status_worker(&mut c)
    );
    assert_eq!(worker_pid(&mut c, "postgres"), Some(pid), "same worker");
}

#[test]
fn status_shows_the_launcher_and_this_databases_worker() {
    let cluster = cluster("status");
    let mut c = cluster.with_extension();
    assert!(wait_until(
        &mut c,
        "SELECT (privacy.status()->'worker'->>'running')::boolean \
            AND privacy.status()->'worker'->>'state' = 'idle'",
        10
    ));
    let w = status_worker(&mut c);
    let pid = worker_pid(&mut c, "postgres").unwrap();
    let launcher: i32 = c
        .query_one(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_privacy launcher'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(w["running"], true, "{w}");
    assert_eq!(w["pid"], pid, "{w}");
    assert_eq!(w["launcher_pid"], launcher, "{w}");
    assert_eq!(w["naptime"], 1, "{w}");
    assert_eq!(w["last_error"], false, "{w}");
    assert!(
        ["idle", "running"].contains(&w["state"].as_str().unwrap()),
        "{w}"
    );
    assert!(w["started_at"].is_string(), "{w}");

    // Without preloading there is no worker, and status says why.
    let plain = Cluster::builder("status-nopreload")
        .without_preload()
        .start();
    let mut p = plain.with_extension();
    let w = status_worker(&mut p);
    assert_eq!(w["running"], false, "{w}");
    assert_eq!(w["reason"], "not preloaded", "{w}");
    let woke: bool = p
        .query_one("SELECT privacy.worker_wake()", &[])
        .unwrap()
        .get(0);
    assert!(!woke);
    assert!(workers(&mut p).is_empty());
}
