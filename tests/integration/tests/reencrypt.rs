//! Re-encryption after rotation with concurrent writers, its progress in privacy.jobs seen from
//! another session, and a job whose session dies.

use pg_privacy_integration::{random_key_hex, sqlstate, wait_until, Cluster};
use std::time::Duration;

fn cluster(name: &str) -> Cluster {
    Cluster::builder(name)
        .setting(format!(
            "privacy.root_key_command = 'echo it-root {}'",
            random_key_hex()
        ))
        .start()
}

fn fill(c: &mut postgres::Client, rows: i32) {
    c.batch_execute(&format!(
        "SELECT privacy.create_key('customer_pii');
         CREATE TABLE cards (id int PRIMARY KEY, card privacy.encrypted_text, note text);
         INSERT INTO cards SELECT i, privacy.encrypt('card-' || i, 'customer_pii', i::text), 'n'
           FROM generate_series(1, {rows}) i;
         ANALYZE cards;
         SELECT privacy.rotate_key('customer_pii');"
    ))
    .unwrap();
}

#[test]
fn reencrypt_moves_every_row_while_another_session_writes() {
    let cluster = cluster("reenc");
    let mut admin = cluster.with_extension();
    fill(&mut admin, 20_000);
    let mut writer = cluster.connect("postgres");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_w = stop.clone();
    let writes = std::thread::spawn(move || {
        let mut n = 0i32;
        while !stop_w.load(std::sync::atomic::Ordering::Relaxed) {
            n += 1;
            // New rows, and updates of old rows, written while the re-encryption runs.
            writer
                .execute(
                    "INSERT INTO cards VALUES ($1::int, privacy.encrypt('card-' || $1::int, 'customer_pii', $1::int::text), 'new')",
                    &[&(100_000 + n)],
                )
                .unwrap();
            let id = 1 + (n * 7919) % 20_000;
            writer
                .execute("UPDATE cards SET note = 'touched' WHERE id = $1", &[&id])
                .unwrap();
        }
        n
    });
    admin
        .batch_execute("CALL privacy.reencrypt_proc('cards', 'card', 500, 'id')")
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writes.join().unwrap();
    assert!(written > 0);
    // Anything a concurrent update moved out of a batch's range is picked up by a second run.
    let second: i64 = admin
        .query_one("SELECT privacy.reencrypt('cards', 'card', 500, 'id')", &[])
        .unwrap()
        .get(0);
    assert!(second >= 0);
    let rows = admin
        .query(
            "SELECT privacy.key_of(card), count(*), count(*) FILTER (WHERE privacy.decrypt(card, id::text) = 'card-' || id) \
             FROM cards GROUP BY 1",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 1, "every value is on one version");
    assert_eq!(rows[0].get::<_, String>(0), "customer_pii:2");
    assert_eq!(rows[0].get::<_, i64>(1), 20_000 + written as i64);
    assert_eq!(
        rows[0].get::<_, i64>(2),
        20_000 + written as i64,
        "every value still decrypts"
    );
}

#[test]
fn progress_is_visible_from_another_session_while_it_runs() {
    let cluster = cluster("jobs");
    let mut admin = cluster.with_extension();
    fill(&mut admin, 60_000);
    let pid: i32 = admin
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let worker = std::thread::spawn(move || {
        admin
            .query_one("SELECT privacy.reencrypt('cards', 'card', 200, 'id')", &[])
            .unwrap()
            .get::<_, i64>(0)
    });
    let mut watcher = cluster.connect("postgres");
    let running =
        "SELECT EXISTS (SELECT 1 FROM privacy.jobs WHERE state = 'running' AND rows_done > 0)";
    assert!(
        wait_until(&mut watcher, running, 60),
        "the job was seen running with progress, before it committed"
    );
    let r = watcher
        .query_one(
            "SELECT rows_done, rows_total_estimate, target, pid FROM privacy.jobs",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, i64>(1), 60_000);
    assert_eq!(r.get::<_, String>(2), "public.cards.card");
    assert_eq!(r.get::<_, i32>(3), pid);
    let done_rows: i64 = r.get(0);
    assert!(done_rows < 60_000);
    assert_eq!(worker.join().unwrap(), 60_000);
    let (state, done): (String, i64) = {
        let r = watcher
            .query_one("SELECT state, rows_done FROM privacy.jobs", &[])
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((state.as_str(), done), ("done", 60_000));
}

#[test]
fn a_job_whose_session_dies_shows_as_failed_and_a_rerun_finishes_it() {
    let cluster = cluster("jobkill");
    let mut admin = cluster.with_extension();
    fill(&mut admin, 60_000);
    let pid: i32 = admin
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let worker = std::thread::spawn(move || {
        admin.query_one("SELECT privacy.reencrypt('cards', 'card', 200, 'id')", &[])
    });
    let mut watcher = cluster.connect("postgres");
    let running =
        "SELECT EXISTS (SELECT 1 FROM privacy.jobs WHERE state = 'running' AND rows_done > 0)";
    assert!(wait_until(&mut watcher, running, 60));
    watcher
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    let err = worker.join().unwrap().unwrap_err();
    assert!(err.is_closed() || sqlstate(&err) == "57P01", "{err}");
    std::thread::sleep(Duration::from_millis(300));
    let state: String = watcher
        .query_one("SELECT state FROM privacy.jobs", &[])
        .unwrap()
        .get(0);
    assert_eq!(state, "failed");
    // Nothing was committed; a new run moves everything.
    let moved: i64 = watcher
        .query_one("SELECT privacy.reencrypt('cards', 'card', 5000, 'id')", &[])
        .unwrap()
        .get(0);
    assert_eq!(moved, 60_000);
}
