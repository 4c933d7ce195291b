//! The access audit against live servers: exact event counts from eight concurrent sessions,
//! what a rollback keeps and what it removes, who is recorded (SET ROLE, app_user, client
//! address, application name), a burst ten times the queue's size, a clean restart and a crash
//! with events still queued, tampering that `audit_verify()` catches and changes the append-only
//! triggers refuse, seals and long transactions, audit retention, who may read and manage the
//! audit, masked values in DML rows, UNMASK events and the auditor's views.
//!
//! Read events (SELECT, DECRYPT, DECRYPT_DENIED, UNMASK) go through a shared-memory queue that
//! the database's worker flushes; `privacy.audit_flush()` waits for it, so every count below is
//! exact. Where a test needs events to stay queued, it stops the worker with SIGSTOP (only while
//! the worker waits on its latch, so it holds no lock) and lets it go on with SIGCONT.

use pg_privacy_integration::{
    cluster_with_key, error_text, random_key_hex, sqlstate, wait_until, Client, Cluster,
};
use postgres::SimpleQueryMessage;
use std::collections::BTreeMap;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// A started cluster with a root key and a worker that wakes every second; `settings` are
/// further postgresql.conf lines (later lines win).
fn cluster(name: &str, settings: &[&str]) -> Cluster {
    let mut all = vec!["privacy.worker_naptime = 1"];
    all.extend_from_slice(settings);
    cluster_with_key(name, &format!("it-root {}", random_key_hex()), &all)
}

/// A small shop: `acct` audited for changes and reads of owner and balance, `ledger` audited for
/// changes only, `secrets` (not audited) with values under keys `pii` and `pii2`. `clerk` is a
/// login of `agents`, who may decrypt with both keys; `nogrant` may read the tables but not
/// decrypt. Eight owners (agent-1 .. agent-8) have four accounts each (ids 10*i .. 10*i+3).
const SHOP: &str = "
    CREATE TABLE acct (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL, note text);
    CREATE TABLE ledger (id bigserial PRIMARY KEY, agent text NOT NULL, amount int NOT NULL);
    SELECT privacy.audit_table('acct', columns => '{owner,balance}', reads => true);
    SELECT privacy.audit_table('ledger');
    SELECT privacy.create_key('pii');
    SELECT privacy.create_key('pii2');
    CREATE TABLE secrets (id int PRIMARY KEY, card privacy.encrypted_text, phone privacy.encrypted_text);
    INSERT INTO secrets SELECT g, privacy.encrypt('card-' || g, 'pii', g::text),
                               privacy.encrypt('phone-' || g, 'pii2', g::text)
      FROM generate_series(1, 20) g;
    CREATE ROLE agents NOLOGIN;
    CREATE ROLE clerk LOGIN IN ROLE agents;
    CREATE ROLE nogrant LOGIN;
    GRANT SELECT, INSERT, UPDATE, DELETE ON acct, ledger, secrets TO agents, nogrant;
    GRANT USAGE ON SEQUENCE ledger_id_seq TO agents, nogrant;
    SELECT privacy.grant_decrypt('pii', 'agents');
    SELECT privacy.grant_decrypt('pii2', 'agents');
    INSERT INTO acct SELECT s * 10 + k, 'agent-' || s, 0, 'n'
      FROM generate_series(1, 8) s, generate_series(0, 3) k;
";

/// A cluster with the shop; returns the superuser session too.
fn shop(name: &str, settings: &[&str]) -> (Cluster, Client) {
    let cluster = cluster(name, settings);
    let mut admin = cluster.with_extension();
    exec(&mut admin, SHOP);
    (cluster, admin)
}

/// The rows of the last statement of `sql` (simple protocol, several statements allowed), each
/// value as text, NULL as None.
fn rows(c: &mut Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut last = Vec::new();
    let mut current = Vec::new();
    for m in c
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {}", error_text(&e)))
    {
        match m {
            SimpleQueryMessage::Row(r) => {
                current.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            SimpleQueryMessage::CommandComplete(_) => last = std::mem::take(&mut current),
            _ => {}
        }
    }
    last
}

/// One value.
fn value(c: &mut Client, sql: &str) -> Option<String> {
    let all = rows(c, sql);
    assert_eq!(all.len(), 1, "{sql}: {all:?}");
    all.into_iter().next().unwrap().remove(0)
}

/// One integer value.
fn int(c: &mut Client, sql: &str) -> i64 {
    value(c, sql)
        .unwrap_or_else(|| panic!("{sql}: NULL"))
        .parse()
        .unwrap()
}

fn exec(c: &mut Client, sql: &str) {
    c.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {}", error_text(&e)));
}

/// The SQLSTATE `sql` fails with (it must fail).
fn fails(c: &mut Client, sql: &str) -> String {
    match c.batch_execute(sql) {
        Ok(()) => panic!("{sql}: succeeded, expected an error"),
        Err(e) => sqlstate(&e),
    }
}

/// Waits until the read events queued so far are in the log; returns how many there were.
fn flush(c: &mut Client) -> i64 {
    int(c, "SELECT privacy.audit_flush()")
}

/// A counter of `privacy.status()->'audit_queue'`.
fn queue_stat(c: &mut Client, key: &str) -> i64 {
    int(
        c,
        &format!("SELECT privacy.status()->'audit_queue'->>'{key}'"),
    )
}

struct Verdict {
    ok: bool,
    first_bad_id: Option<i64>,
    detail: String,
}

impl std::fmt::Debug for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok={} first_bad_id={:?} {}",
            self.ok, self.first_bad_id, self.detail
        )
    }
}

fn verify(c: &mut Client) -> Verdict {
    let r = c
        .query_one(
            "SELECT ok, first_bad_id, detail FROM privacy.audit_verify()",
            &[],
        )
        .unwrap_or_else(|e| panic!("audit_verify: {}", error_text(&e)));
    Verdict {
        ok: r.get(0),
        first_bad_id: r.get(1),
        detail: r.get(2),
    }
}

fn assert_verified(c: &mut Client, when: &str) {
    let v = verify(c);
    assert!(v.ok, "{when}: {v:?}");
}

/// Every row of the log is in a sealed block, and the blocks hold exactly the rows there are
/// (no audit retention in the cluster).
const ALL_SEALED: &str = "
    SELECT coalesce((SELECT max(last_id) FROM privacy.audit_seals), 0)
             = coalesce((SELECT max(id) FROM privacy.audit_log), 0)
       AND coalesce((SELECT sum(row_count) FROM privacy.audit_seals), 0)
             = (SELECT count(*) FROM privacy.audit_log)";

fn wait_all_sealed(c: &mut Client, seconds: u64) {
    assert!(
        wait_until(c, ALL_SEALED, seconds),
        "not everything sealed after {seconds} s: seals {:?}, log max id {:?}",
        rows(
            c,
            "SELECT block_no, first_id, last_id, row_count FROM privacy.audit_seals ORDER BY block_no"
        ),
        value(c, "SELECT max(id) FROM privacy.audit_log")
    );
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: sends a signal to a server process of the test's own cluster.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
}

/// The pid of this database's pg_privacy worker, once it runs.
fn worker_pid(c: &mut Client) -> i32 {
    assert!(
        wait_until(
            c,
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'pg_privacy worker' \
                              AND datname = current_database())",
            20
        ),
        "no worker"
    );
    int(
        c,
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_privacy worker' \
           AND datname = current_database()",
    ) as i32
}

/// Stops the worker (SIGSTOP) while it waits on its latch, so it holds no lock.
fn pause_worker(c: &mut Client, pid: i32) {
    for _ in 0..200 {
        kill(pid, libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(30));
        let waiting = value(
            c,
            &format!("SELECT wait_event_type FROM pg_stat_activity WHERE pid = {pid}"),
        );
        if waiting.as_deref() == Some("Extension") {
            return;
        }
        kill(pid, libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the worker never waited on its latch");
}

/// A fresh session once the server accepts connections again (after a crash).
fn reconnect(cluster: &Cluster, user: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut c) = cluster.try_connect_db("postgres", user) {
            if c.simple_query("SELECT 1").is_ok() {
                return c;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server did not come back; log:\n{}", cluster.log());
}

/// (app_user, action, object) -> (events, sum of rows) for the app users matching `like`.
type Counts = BTreeMap<(String, String, String), (i64, i64)>;

fn counts(c: &mut Client, like: &str) -> Counts {
    rows(
        c,
        &format!(
            "SELECT app_user, action, coalesce(object, ''), count(*), coalesce(sum(rows), 0)
               FROM privacy.audit_log WHERE app_user LIKE '{like}' GROUP BY 1, 2, 3"
        ),
    )
    .into_iter()
    .map(|r| {
        let s = |i: usize| r[i].clone().unwrap_or_default();
        (
            (s(0), s(1), s(2)),
            (s(3).parse().unwrap(), s(4).parse().unwrap()),
        )
    })
    .collect()
}

fn key(app_user: &str, action: &str, object: &str) -> (String, String, String) {
    (app_user.to_string(), action.to_string(), object.to_string())
}

// ---------------------------------------------------------------------------------------------
// 1. Exact counts under concurrency

/// One session's work: `n` rounds of reads (simple and extended protocol), writes and decrypts.
fn shop_session(cluster: &Cluster, i: usize, n: usize, start: &Barrier) {
    let mut c = cluster.connect("clerk");
    let agent = format!("agent-{i}");
    exec(&mut c, &format!("SET privacy.app_user = '{agent}'"));
    start.wait();
    for k in 0..n {
        let id = (i * 10 + k % 4) as i32;
        // One implicit transaction, six statements: a read of an audited column, a read of
        // columns that are not audited, 1 + 3 inserted rows, 4 updated rows, 2 x 3 decrypts.
        exec(
            &mut c,
            &format!(
                "SELECT balance FROM acct WHERE id = {id};
                 SELECT note FROM acct WHERE id = {id};
                 INSERT INTO ledger (agent, amount) VALUES ('{agent}', {k});
                 INSERT INTO ledger (agent, amount) SELECT '{agent}', -g FROM generate_series(1, 3) g;
                 UPDATE acct SET balance = balance + 1 WHERE owner = '{agent}';
                 SELECT privacy.decrypt(card, id::text), privacy.decrypt(phone, id::text)
                   FROM secrets WHERE id <= 3;"
            ),
        );
        // Extended protocol in an explicit transaction; every fifth round deletes the five
        // rows with amount -3 inserted since the last delete.
        let mut t = c.transaction().unwrap();
        let r = t
            .query("SELECT balance FROM acct WHERE id = $1", &[&id])
            .unwrap();
        assert_eq!(r.len(), 1);
        if k % 5 == 4 {
            let deleted = t
                .execute(
                    "DELETE FROM ledger WHERE agent = $1 AND amount = -3",
                    &[&agent],
                )
                .unwrap();
            assert_eq!(deleted, 5);
        }
        t.commit().unwrap();
    }
}

#[test]
fn eight_sessions_give_exact_counts_per_action_and_session() {
    const SESSIONS: usize = 8;
    const ROUNDS: usize = 30;
    let started = Instant::now();
    let (cluster, mut admin) = shop("audit-counts", &[]);
    let start = Barrier::new(SESSIONS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..=SESSIONS)
            .map(|i| {
                let (cluster, start) = (&cluster, &start);
                s.spawn(move || shop_session(cluster, i, ROUNDS, start))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    flush(&mut admin);

    let n = ROUNDS as i64;
    let mut want = Counts::new();
    for i in 1..=SESSIONS {
        let a = format!("agent-{i}");
        want.insert(key(&a, "SELECT", "public.acct"), (2 * n, 2 * n));
        want.insert(key(&a, "INSERT", "public.ledger"), (4 * n, 4 * n));
        want.insert(key(&a, "UPDATE", "public.acct"), (4 * n, 4 * n));
        want.insert(key(&a, "DELETE", "public.ledger"), (n, n));
        want.insert(key(&a, "DECRYPT", "key pii"), (n, 3 * n));
        want.insert(key(&a, "DECRYPT", "key pii2"), (n, 3 * n));
    }
    assert_eq!(counts(&mut admin, "agent-%"), want);

    // Who, and what the rows hold.
    assert_eq!(
        int(
            &mut admin,
            "SELECT count(*) FROM privacy.audit_log WHERE app_user LIKE 'agent-%'
               AND (session_role <> 'clerk' OR \"current_role\" <> 'clerk'
                    OR application_name IS DISTINCT FROM 'pg_privacy_it' OR client_addr IS NOT NULL)"
        ),
        0
    );
    // SELECT names the audited columns the statement read; DML rows the audited columns.
    let cols = |a: &str, c: Option<&str>| vec![Some(a.to_string()), c.map(str::to_string)];
    assert_eq!(
        rows(
            &mut admin,
            "SELECT DISTINCT action, columns::text FROM privacy.audit_log
              WHERE app_user LIKE 'agent-%' ORDER BY 1, 2"
        ),
        vec![
            cols("DECRYPT", None),
            cols("DELETE", Some("{id,agent,amount}")),
            cols("INSERT", Some("{id,agent,amount}")),
            cols("SELECT", Some("{balance}")),
            cols("UPDATE", Some("{owner,balance}")),
        ]
    );
    assert_eq!(
        int(
            &mut admin,
            "SELECT count(*) FROM privacy.audit_log WHERE app_user LIKE 'agent-%'
               AND action IN ('INSERT', 'UPDATE', 'DELETE')
               AND (txid IS NULL OR row_key IS NULL OR NOT row_key ? 'id')"
        ),
        0,
        "every DML row has its transaction and the row's key"
    );
    assert_eq!(
        int(
            &mut admin,
            "SELECT count(*) FROM privacy.audit_log WHERE app_user LIKE 'agent-%' AND action = 'UPDATE'
               AND (new_values->>'balance')::int <> (old_values->>'balance')::int + 1"
        ),
        0,
        "UPDATE rows pair each row's old and new values"
    );
    assert_eq!(queue_stat(&mut admin, "dropped"), 0);
    wait_all_sealed(&mut admin, 20);
    assert_verified(&mut admin, "after the sessions");
    eprintln!("eight sessions: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// 2. Rollbacks

#[test]
fn rolled_back_changes_leave_no_rows_but_reads_and_refusals_stay() {
    let (cluster, mut admin) = shop("audit-rollback", &[]);
    let mut clerk = cluster.connect("clerk");
    let mut nogrant = cluster.connect("nogrant");

    // Changes rolled back: no rows. A savepoint rolled back: only what it undid is gone.
    exec(
        &mut clerk,
        "SET privacy.app_user = 'rb-changes';
         BEGIN;
         INSERT INTO ledger (agent, amount) VALUES ('rb', 1), ('rb', 2);
         UPDATE acct SET balance = 100 WHERE owner = 'agent-1';
         DELETE FROM acct WHERE id = 20;
         ROLLBACK;",
    );
    exec(
        &mut clerk,
        "SET privacy.app_user = 'rb-savepoint';
         BEGIN;
         SAVEPOINT s;
         INSERT INTO ledger (agent, amount) VALUES ('rb', 100);
         ROLLBACK TO s;
         INSERT INTO ledger (agent, amount) VALUES ('rb', 200);
         COMMIT;",
    );
    // Reads in transactions that are rolled back, or that fail after the read: still logged.
    exec(
        &mut clerk,
        "SET privacy.app_user = 'rb-read';
         BEGIN; SELECT balance FROM acct WHERE id = 10; ROLLBACK;",
    );
    exec(&mut clerk, "SET privacy.app_user = 'rb-read-failed'");
    exec(&mut clerk, "BEGIN");
    exec(&mut clerk, "SELECT owner, balance FROM acct WHERE id < 20");
    assert_eq!(fails(&mut clerk, "SELECT 1 / 0"), "22012");
    exec(&mut clerk, "ROLLBACK");
    // A cursor closed before the rollback: its reads are logged.
    exec(
        &mut clerk,
        "SET privacy.app_user = 'rb-cursor';
         BEGIN; DECLARE c CURSOR FOR SELECT balance FROM acct ORDER BY id;
         FETCH 3 FROM c; CLOSE c; ROLLBACK;",
    );
    // TRUNCATE: one row when committed, none when rolled back.
    exec(
        &mut admin,
        "CREATE TABLE scratch (id int PRIMARY KEY);
         SELECT privacy.audit_table('scratch');
         GRANT ALL ON scratch TO agents;",
    );
    // (A SET in the same batch as BEGIN ... ROLLBACK would be rolled back with it.)
    exec(&mut clerk, "SET privacy.app_user = 'rb-truncate'");
    exec(&mut clerk, "BEGIN; TRUNCATE scratch; ROLLBACK;");
    exec(&mut clerk, "TRUNCATE scratch");
    // A granted decrypt in a transaction rolled back: logged.
    exec(
        &mut clerk,
        "SET privacy.app_user = 'rb-decrypt';
         BEGIN; SELECT privacy.decrypt(card, id::text) FROM secrets WHERE id <= 4; ROLLBACK;",
    );

    // A refused decrypt raises 42501 and aborts the transaction: logged, one value.
    exec(&mut nogrant, "SET privacy.app_user = 'rb-denied'; BEGIN");
    let e = nogrant
        .batch_execute("SELECT privacy.decrypt(card, id::text) FROM secrets WHERE id <= 5")
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501", "{}", error_text(&e));
    exec(&mut nogrant, "ROLLBACK");
    // The same outside an explicit transaction.
    exec(&mut nogrant, "SET privacy.app_user = 'rb-denied-auto'");
    assert_eq!(
        fails(
            &mut nogrant,
            "SELECT privacy.decrypt(phone, id::text) FROM secrets"
        ),
        "42501"
    );
    // Caught by an exception block: still logged.
    exec(
        &mut nogrant,
        "SET privacy.app_user = 'rb-denied-caught';
         DO $$ BEGIN
           PERFORM privacy.decrypt(card, id::text) FROM secrets WHERE id = 1;
         EXCEPTION WHEN insufficient_privilege THEN NULL;
         END $$;",
    );
    // try_decrypt without a grant: NULLs, and one DECRYPT_DENIED event counting every value.
    exec(&mut nogrant, "SET privacy.app_user = 'rb-try'");
    assert_eq!(
        int(
            &mut nogrant,
            "SELECT count(privacy.try_decrypt(card, id::text)) FROM secrets WHERE id <= 7"
        ),
        0
    );
    flush(&mut admin);

    let mut want = Counts::new();
    want.insert(key("rb-savepoint", "INSERT", "public.ledger"), (1, 1));
    want.insert(key("rb-read", "SELECT", "public.acct"), (1, 1));
    want.insert(key("rb-read-failed", "SELECT", "public.acct"), (1, 4));
    want.insert(key("rb-cursor", "SELECT", "public.acct"), (1, 3));
    want.insert(key("rb-truncate", "TRUNCATE", "public.scratch"), (1, 0));
    want.insert(key("rb-decrypt", "DECRYPT", "key pii"), (1, 4));
    want.insert(key("rb-denied", "DECRYPT_DENIED", "key pii"), (1, 1));
    want.insert(key("rb-denied-auto", "DECRYPT_DENIED", "key pii2"), (1, 1));
    want.insert(key("rb-denied-caught", "DECRYPT_DENIED", "key pii"), (1, 1));
    want.insert(key("rb-try", "DECRYPT_DENIED", "key pii"), (1, 7));
    assert_eq!(counts(&mut admin, "rb-%"), want);
    assert_eq!(
        value(
            &mut admin,
            "SELECT new_values->>'amount' FROM privacy.audit_log WHERE app_user = 'rb-savepoint'"
        )
        .as_deref(),
        Some("200")
    );
    assert_eq!(
        rows(
            &mut admin,
            "SELECT DISTINCT \"current_role\" FROM privacy.audit_log WHERE app_user LIKE 'rb-denied%' OR app_user = 'rb-try'"
        ),
        vec![vec![Some("nogrant".to_string())]]
    );
    assert_eq!(queue_stat(&mut admin, "dropped"), 0);
    wait_all_sealed(&mut admin, 20);
    assert_verified(&mut admin, "after the rollbacks");
}

// ---------------------------------------------------------------------------------------------
// 3. Who

#[test]
fn set_role_app_user_client_address_and_application_name_are_recorded() {
    let (_cluster, mut admin) = shop("audit-who", &["listen_addresses = '127.0.0.1'"]);
    exec(
        &mut admin,
        "CREATE ROLE pooler LOGIN NOINHERIT; GRANT agents TO pooler;
         CREATE ROLE keyadm NOLOGIN IN ROLE privacy_admin;",
    );
    let port: u16 = value(&mut admin, "SHOW port").unwrap().parse().unwrap();
    // Over TCP, a pooled login that switches to agents and names the person it serves.
    let mut tcp = postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user("pooler")
        .dbname("postgres")
        .application_name("desk-app")
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("TCP connection: {e}"));
    exec(
        &mut tcp,
        "SET ROLE agents; SET privacy.app_user = 'human-7';
         INSERT INTO ledger (agent, amount) VALUES ('human-7', 7);
         SELECT balance FROM acct WHERE id = 10;
         SELECT privacy.decrypt(card, id::text) FROM secrets WHERE id = 1;",
    );
    // Back to itself (NOINHERIT: no grant), with app_user cleared.
    exec(
        &mut tcp,
        "RESET ROLE; RESET privacy.app_user;
         SELECT privacy.try_decrypt(privacy.encrypt('x', 'pii'));",
    );
    // Over the Unix socket, a superuser acting as clerk, then as a key administrator.
    exec(
        &mut admin,
        "SET ROLE clerk; SET privacy.app_user = 'human-9';
         INSERT INTO ledger (agent, amount) VALUES ('human-9', 9);
         SELECT balance FROM acct WHERE id = 11;
         RESET ROLE; SET ROLE keyadm;
         SELECT privacy.create_key('k3');
         RESET ROLE; RESET privacy.app_user;",
    );
    flush(&mut admin);
    let who = |c: &mut Client, filter: &str| {
        rows(
            c,
            &format!(
                "SELECT action, session_role, \"current_role\", app_user, host(client_addr), application_name
                   FROM privacy.audit_log WHERE {filter} ORDER BY action"
            ),
        )
    };
    let row =
        |action: &str, s: &str, c: &str, app: Option<&str>, addr: Option<&str>, name: &str| {
            vec![
                Some(action.to_string()),
                Some(s.to_string()),
                Some(c.to_string()),
                app.map(str::to_string),
                addr.map(str::to_string),
                Some(name.to_string()),
            ]
        };
    assert_eq!(
        who(&mut admin, "session_role = 'pooler'"),
        vec![
            row(
                "DECRYPT",
                "pooler",
                "agents",
                Some("human-7"),
                Some("127.0.0.1"),
                "desk-app"
            ),
            row(
                "DECRYPT_DENIED",
                "pooler",
                "pooler",
                None,
                Some("127.0.0.1"),
                "desk-app"
            ),
            row(
                "INSERT",
                "pooler",
                "agents",
                Some("human-7"),
                Some("127.0.0.1"),
                "desk-app"
            ),
            row(
                "SELECT",
                "pooler",
                "agents",
                Some("human-7"),
                Some("127.0.0.1"),
                "desk-app"
            ),
        ]
    );
    // Unix socket: no client address.
    assert_eq!(
        who(&mut admin, "app_user = 'human-9'"),
        vec![
            row(
                "INSERT",
                "postgres",
                "clerk",
                Some("human-9"),
                None,
                "pg_privacy_it"
            ),
            row(
                "KEY_CREATE",
                "postgres",
                "keyadm",
                Some("human-9"),
                None,
                "pg_privacy_it"
            ),
            row(
                "SELECT",
                "postgres",
                "clerk",
                Some("human-9"),
                None,
                "pg_privacy_it"
            ),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// 4. A burst ten times the queue

/// The smallest queue the setting allows (1024; 64, below the minimum, is ignored with a
/// WARNING and the default 65536 is used) and a slow flush interval: eight sessions queue
/// 11,200 read events at once, more than ten times the queue. Writers wait for room; nothing
/// is lost.
#[test]
fn a_burst_ten_times_the_queue_loses_nothing() {
    let (cluster, mut admin) = shop(
        "audit-burst",
        &[
            "privacy.audit_queue_size = 1024",
            "privacy.audit_flush_interval = 1000",
        ],
    );
    assert_eq!(queue_stat(&mut admin, "capacity"), 1024);
    flush(&mut admin);
    let started = Instant::now();
    let start = Barrier::new(8);
    std::thread::scope(|s| {
        for i in 1..=8usize {
            let (cluster, start) = (&cluster, &start);
            s.spawn(move || {
                let mut c = cluster.connect("clerk");
                exec(&mut c, &format!("SET privacy.app_user = 'burst-{i}'"));
                start.wait();
                if i <= 4 {
                    // 2,500 statements in one DO block: each is an audited read.
                    exec(
                        &mut c,
                        &format!(
                            "DO $$ BEGIN FOR k IN 1..2500 LOOP
                               PERFORM balance FROM acct WHERE id = {};
                             END LOOP; END $$",
                            i * 10
                        ),
                    );
                } else {
                    for k in 0..300 {
                        exec(
                            &mut c,
                            &format!("SELECT owner FROM acct WHERE id = {}", i * 10 + k % 4),
                        );
                    }
                }
            });
        }
    });
    let produced = started.elapsed();
    flush(&mut admin);
    eprintln!(
        "burst: 11200 events queued in {produced:?}, all flushed after {:?}",
        started.elapsed()
    );
    let mut want = Counts::new();
    for i in 1..=8 {
        let n = if i <= 4 { 2500 } else { 300 };
        want.insert(key(&format!("burst-{i}"), "SELECT", "public.acct"), (n, n));
    }
    assert_eq!(counts(&mut admin, "burst-%"), want);
    let (dropped, waits, depth) = (
        queue_stat(&mut admin, "dropped"),
        queue_stat(&mut admin, "waits"),
        queue_stat(&mut admin, "depth"),
    );
    eprintln!("burst: dropped {dropped}, waits {waits}");
    assert_eq!(dropped, 0);
    assert!(waits > 0, "the queue never filled: the test proves nothing");
    assert_eq!(depth, 0);
    assert!(!cluster.log().contains("an audit event was lost"));
    wait_all_sealed(&mut admin, 30);
    assert_verified(&mut admin, "after the burst");
}

// ---------------------------------------------------------------------------------------------
// 5. Clean restart

#[test]
fn a_clean_restart_loses_no_queued_event() {
    let (cluster, mut admin) = shop("audit-restart", &["privacy.audit_flush_interval = 60000"]);
    let pid = worker_pid(&mut admin);
    flush(&mut admin);
    pause_worker(&mut admin, pid);
    let mut clerk = cluster.connect("clerk");
    exec(
        &mut clerk,
        "SET privacy.app_user = 'before-stop';
         DO $$ BEGIN FOR k IN 1..400 LOOP PERFORM balance FROM acct WHERE id = 10; END LOOP; END $$;
         DO $$ BEGIN FOR k IN 1..100 LOOP
           PERFORM privacy.decrypt(card, id::text) FROM secrets WHERE id = 1 + k % 20;
         END LOOP; END $$;
         INSERT INTO ledger (agent, amount) SELECT 'stop', g FROM generate_series(1, 20) g;",
    );
    // Everything read is still in shared memory: the worker is stopped.
    assert_eq!(queue_stat(&mut admin, "depth"), 500);
    assert_eq!(
        int(
            &mut admin,
            "SELECT count(*) FROM privacy.audit_log WHERE app_user = 'before-stop' AND action <> 'INSERT'"
        ),
        0
    );
    drop(clerk);
    drop(admin);
    // pg_ctl stop -m fast while the worker is stopped, then let it go on: it gets SIGTERM
    // with the 500 events queued.
    std::thread::scope(|s| {
        let stop = s.spawn(|| cluster.stop());
        std::thread::sleep(Duration::from_millis(500));
        kill(pid, libc::SIGCONT);
        stop.join().unwrap();
    });
    cluster.start();
    let mut admin = cluster.connect("postgres");
    let mut want = Counts::new();
    want.insert(key("before-stop", "SELECT", "public.acct"), (400, 400));
    want.insert(key("before-stop", "DECRYPT", "key pii"), (100, 100));
    want.insert(key("before-stop", "INSERT", "public.ledger"), (20, 20));
    assert_eq!(counts(&mut admin, "before-stop"), want);
    wait_all_sealed(&mut admin, 20);
    assert_verified(&mut admin, "after the restart");
}

// ---------------------------------------------------------------------------------------------
// 6. kill -9 of a backend

/// What the postmaster logs when a backend crashed and it resets shared memory.
const RESET: &str = "terminating any other active server processes";

/// Generates `n` read events in one statement.
fn reads(c: &mut Client, app_user: &str, n: usize) {
    exec(
        c,
        &format!(
            "SET privacy.app_user = '{app_user}';
             DO $$ BEGIN FOR k IN 1..{n} LOOP PERFORM balance FROM acct WHERE id = 10; END LOOP; END $$;"
        ),
    );
}

/// Reads one at a time from another thread until the server crashes; kills an idle backend
/// after `after`. Returns how many reads succeeded and how many of them are in the log.
fn crash_during_reads(cluster: &Cluster, app_user: &str, after: Duration) -> (i64, i64) {
    let mut victim = cluster.connect("postgres");
    let victim_pid = int(&mut victim, "SELECT pg_backend_pid()") as i32;
    let mut reader = cluster.connect("clerk");
    exec(&mut reader, &format!("SET privacy.app_user = '{app_user}'"));
    let done = std::thread::scope(|s| {
        let h = s.spawn(move || {
            let mut ok = 0i64;
            while reader
                .simple_query("SELECT balance FROM acct WHERE id = 11")
                .is_ok()
            {
                ok += 1;
            }
            ok
        });
        std::thread::sleep(after);
        kill(victim_pid, libc::SIGKILL);
        h.join().unwrap()
    });
    drop(victim);
    let mut admin = reconnect(cluster, "postgres");
    worker_pid(&mut admin);
    let logged = int(
        &mut admin,
        &format!("SELECT count(*) FROM privacy.audit_log WHERE app_user = '{app_user}'"),
    );
    (done, logged)
}

#[test]
fn a_crash_keeps_the_log_verifiable_and_committed_changes_complete() {
    let (cluster, mut admin) = shop("audit-crash", &["privacy.audit_flush_interval = 60000"]);
    let mut clerk = cluster.connect("clerk");
    exec(&mut clerk, "SET privacy.app_user = 'crash-dml'");
    for k in 0..50 {
        exec(
            &mut clerk,
            &format!("INSERT INTO ledger (agent, amount) VALUES ('crash', {k})"),
        );
    }
    // A transaction open at the crash: its rows never count.
    let mut open = cluster.connect("clerk");
    exec(
        &mut open,
        "SET privacy.app_user = 'crash-open'; BEGIN;
         INSERT INTO ledger (agent, amount) VALUES ('open', 1);",
    );
    flush(&mut admin);

    // 1. Events queued while the worker cannot flush, then kill -9 of an idle backend.
    let pid = worker_pid(&mut admin);
    pause_worker(&mut admin, pid);
    reads(&mut clerk, "crash-queued", 300);
    assert_eq!(queue_stat(&mut admin, "depth"), 300);
    let victim = int(&mut admin, "SELECT pg_backend_pid()") as i32;
    let resets = cluster.log().matches(RESET).count();
    kill(victim, libc::SIGKILL);
    // The worker goes on only once the postmaster has told every process to quit.
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.log().matches(RESET).count() == resets && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(pid, libc::SIGCONT);
    drop((admin, clerk, open));
    let mut admin = reconnect(&cluster, "postgres");
    worker_pid(&mut admin);
    let logged_queued = int(
        &mut admin,
        "SELECT count(*) FROM privacy.audit_log WHERE app_user = 'crash-queued'",
    );
    eprintln!(
        "kill -9 with 300 events queued and the worker stopped: {} lost",
        300 - logged_queued
    );
    assert_eq!(
        int(
            &mut admin,
            "SELECT count(*) FROM privacy.audit_log WHERE app_user = 'crash-dml' AND action = 'INSERT'"
        ),
        50,
        "committed changes are all there"
    );
    assert_eq!(
        int(
            &mut admin,
            "SELECT count(*) FROM privacy.audit_log WHERE app_user = 'crash-open'"
        ),
        0
    );
    assert_verified(&mut admin, "after the crash");

    // 2. Reads going on at the crash, with a 60 s flush interval and with the default 200 ms.
    let (done, logged) =
        crash_during_reads(&cluster, "crash-live-60s", Duration::from_millis(1500));
    eprintln!(
        "kill -9 during reads, flush interval 60 s: {done} reads done, {logged} logged, {} lost",
        done - logged
    );
    assert!(logged <= done + 1, "{logged} logged of {done}");
    cluster.append_conf("privacy.audit_flush_interval = 200");
    cluster.reload();
    std::thread::sleep(Duration::from_millis(300));
    let (done, logged) =
        crash_during_reads(&cluster, "crash-live-200ms", Duration::from_millis(1500));
    eprintln!(
        "kill -9 during reads, flush interval 200 ms: {done} reads done, {logged} logged, {} lost",
        done - logged
    );
    assert!(logged <= done + 1, "{logged} logged of {done}");

    // New events are logged and sealed; the log still verifies.
    let mut admin = reconnect(&cluster, "postgres");
    let mut clerk = cluster.connect("clerk");
    exec(
        &mut clerk,
        "SET privacy.app_user = 'after-crash';
         SELECT balance FROM acct WHERE id = 12;
         INSERT INTO ledger (agent, amount) VALUES ('after', 1);",
    );
    flush(&mut admin);
    let mut want = Counts::new();
    want.insert(key("after-crash", "SELECT", "public.acct"), (1, 1));
    want.insert(key("after-crash", "INSERT", "public.ledger"), (1, 1));
    assert_eq!(counts(&mut admin, "after-crash"), want);
    wait_all_sealed(&mut admin, 20);
    assert_verified(&mut admin, "after the crashes");
}

// ---------------------------------------------------------------------------------------------
// 7. Tampering

#[test]
fn tampering_is_refused_or_caught_by_verify() {
    let (cluster, mut admin) = shop("audit-tamper", &[]);
    exec(&mut admin, "SET privacy.app_user = 'tamper-test'");
    flush(&mut admin);
    wait_all_sealed(&mut admin, 20);
    // A block with a gap inside: one transaction draws ids a, g, b; g is rolled back with its
    // savepoint. The worker is stopped meanwhile, so the three ids end up in one block.
    let pid = worker_pid(&mut admin);
    pause_worker(&mut admin, pid);
    exec(
        &mut admin,
        "BEGIN;
         INSERT INTO ledger (agent, amount) VALUES ('t', 1);
         SAVEPOINT s;
         INSERT INTO ledger (agent, amount) VALUES ('t', 2);
         ROLLBACK TO s;
         INSERT INTO ledger (agent, amount) VALUES ('t', 3);
         COMMIT;",
    );
    kill(pid, libc::SIGCONT);
    let ids: Vec<i64> = rows(
        &mut admin,
        "SELECT id FROM privacy.audit_log WHERE object = 'public.ledger' AND app_user = 'tamper-test' ORDER BY id",
    )
    .into_iter()
    .map(|r| r[0].as_ref().unwrap().parse().unwrap())
    .collect();
    assert_eq!(ids.len(), 2);
    let (a, b) = (ids[0], ids[1]);
    assert_eq!(b, a + 2, "the rolled-back row drew the id between");
    let gap = a + 1;
    // More rows after, in a later block.
    exec(
        &mut admin,
        "INSERT INTO ledger (agent, amount) VALUES ('t', 4)",
    );
    wait_all_sealed(&mut admin, 20);
    exec(
        &mut admin,
        "INSERT INTO ledger (agent, amount) VALUES ('t', 5)",
    );
    wait_all_sealed(&mut admin, 20);
    let block = int(
        &mut admin,
        &format!("SELECT block_no FROM privacy.audit_seals WHERE {a} BETWEEN first_id AND last_id"),
    );
    assert_eq!(
        int(
            &mut admin,
            &format!("SELECT count(*) FROM privacy.audit_seals WHERE block_no = {block} AND {b} <= last_id")
        ),
        1,
        "a and b are in one block"
    );
    let last_block = int(&mut admin, "SELECT max(block_no) FROM privacy.audit_seals");
    assert!(last_block > block);
    assert_verified(&mut admin, "before tampering");

    // The append-only triggers refuse, superuser or not, replica mode or not.
    for replica in [false, true] {
        if replica {
            exec(&mut admin, "SET session_replication_role = replica");
        }
        for sql in [
            format!("UPDATE privacy.audit_log SET app_user = 'x' WHERE id = {a}"),
            format!("DELETE FROM privacy.audit_log WHERE id = {a}"),
            "TRUNCATE privacy.audit_log".to_string(),
            format!("UPDATE privacy.audit_seals SET row_count = 0 WHERE block_no = {block}"),
            format!("DELETE FROM privacy.audit_seals WHERE block_no = {block}"),
            "TRUNCATE privacy.audit_seals".to_string(),
        ] {
            assert_eq!(
                fails(&mut admin, &sql),
                "42501",
                "{sql} (replica: {replica})"
            );
        }
    }
    exec(&mut admin, "RESET session_replication_role");
    assert_verified(&mut admin, "after the refusals");

    let disable = "ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
                   ALTER TABLE privacy.audit_seals DISABLE TRIGGER audit_seals_append_only;";
    let enable = "ALTER TABLE privacy.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
                  ALTER TABLE privacy.audit_seals ENABLE ALWAYS TRIGGER audit_seals_append_only;";
    exec(&mut admin, disable);
    exec(
        &mut admin,
        &format!("CREATE TEMP TABLE saved AS SELECT * FROM privacy.audit_log WHERE id = {a}"),
    );

    // A sealed row changed: its own hash no longer matches.
    exec(
        &mut admin,
        &format!("UPDATE privacy.audit_log SET app_user = 'forged' WHERE id = {a}"),
    );
    let v = verify(&mut admin);
    assert!(!v.ok && v.first_bad_id == Some(a), "{v:?}");
    exec(
        &mut admin,
        &format!("UPDATE privacy.audit_log SET app_user = 'tamper-test' WHERE id = {a}"),
    );
    assert_verified(&mut admin, "row restored");

    // Rewritten with a consistent row hash (deleted and inserted again, changed): the block's
    // seal no longer matches.
    exec(
        &mut admin,
        &format!(
            "UPDATE pg_temp.saved SET app_user = 'forged';
             DELETE FROM privacy.audit_log WHERE id = {a};
             INSERT INTO privacy.audit_log SELECT * FROM saved;"
        ),
    );
    assert_eq!(
        value(
            &mut admin,
            &format!("SELECT app_user FROM privacy.audit_log WHERE id = {a}")
        )
        .as_deref(),
        Some("forged")
    );
    let v = verify(&mut admin);
    assert!(
        !v.ok && v.detail.contains(&format!("block {block}")),
        "{v:?}"
    );
    exec(
        &mut admin,
        &format!(
            "UPDATE pg_temp.saved SET app_user = 'tamper-test';
             DELETE FROM privacy.audit_log WHERE id = {a};
             INSERT INTO privacy.audit_log SELECT * FROM saved;"
        ),
    );
    assert_verified(&mut admin, "row put back");

    // A sealed row deleted: its block is short of a row.
    exec(
        &mut admin,
        &format!("DELETE FROM privacy.audit_log WHERE id = {a}"),
    );
    let v = verify(&mut admin);
    assert!(
        !v.ok && v.first_bad_id.is_some() && v.detail.contains(&format!("block {block}")),
        "{v:?}"
    );
    exec(
        &mut admin,
        "INSERT INTO privacy.audit_log SELECT * FROM saved",
    );
    assert_verified(&mut admin, "deleted row put back");

    // A seal's hash changed: the chain breaks.
    let hash = value(
        &mut admin,
        &format!("SELECT encode(hash, 'hex') FROM privacy.audit_seals WHERE block_no = {block}"),
    )
    .unwrap();
    exec(
        &mut admin,
        &format!("UPDATE privacy.audit_seals SET hash = sha256('forged') WHERE block_no = {block}"),
    );
    let v = verify(&mut admin);
    assert!(!v.ok && v.first_bad_id.is_some(), "{v:?}");
    assert!(
        v.detail.contains(&format!("block {block}"))
            || v.detail.contains(&format!("block {}", block + 1)),
        "{v:?}"
    );
    exec(
        &mut admin,
        &format!(
            "UPDATE privacy.audit_seals SET hash = decode('{hash}', 'hex') WHERE block_no = {block}"
        ),
    );
    assert_verified(&mut admin, "seal restored");

    // A seal removed from the middle of the chain.
    exec(
        &mut admin,
        &format!(
            "CREATE TEMP TABLE saved_seal AS SELECT * FROM privacy.audit_seals WHERE block_no = {block};
             DELETE FROM privacy.audit_seals WHERE block_no = {block};"
        ),
    );
    let v = verify(&mut admin);
    assert!(!v.ok, "{v:?}");
    exec(
        &mut admin,
        "INSERT INTO privacy.audit_seals SELECT * FROM saved_seal",
    );
    assert_verified(&mut admin, "seal put back");
    exec(&mut admin, enable);

    // A forged row inside a sealed range (INSERT is what append-only allows): the block holds a
    // row more than it was sealed with.
    exec(
        &mut admin,
        &format!(
            "INSERT INTO privacy.audit_log (id, action, object, app_user, rows)
             VALUES ({gap}, 'SELECT', 'public.acct', 'forged', 1)"
        ),
    );
    let v = verify(&mut admin);
    assert!(
        !v.ok && v.first_bad_id.is_some() && v.detail.contains(&format!("block {block}")),
        "{v:?}"
    );
    exec(&mut admin, disable);
    exec(
        &mut admin,
        &format!("DELETE FROM privacy.audit_log WHERE id = {gap}"),
    );
    exec(&mut admin, enable);
    assert_verified(&mut admin, "forged row removed");

    // New rows are still sealed after all this, and the chain verifies.
    exec(
        &mut admin,
        "INSERT INTO ledger (agent, amount) VALUES ('t', 6)",
    );
    wait_all_sealed(&mut admin, 20);
    assert_verified(&mut admin, "at the end");
    drop(cluster);
}

// ---------------------------------------------------------------------------------------------
// 8. Seals

fn digest(c: &mut Client) -> String {
    value(c, "SELECT privacy.audit_digest()").unwrap()
}

#[test]
fn seals_wait_for_open_writers_and_cover_every_committed_row() {
    let (cluster, mut admin) = shop("audit-seals", &[]);
    exec(
        &mut admin,
        "INSERT INTO ledger (agent, amount) SELECT 's', g FROM generate_series(1, 10) g",
    );
    wait_all_sealed(&mut admin, 20);
    assert_verified(&mut admin, "after the first rows");
    let d1 = digest(&mut admin);
    assert!(d1.contains("block"), "{d1}");

    // A reader in a long repeatable-read transaction does not hold sealing up.
    let mut reader = cluster.connect("postgres");
    exec(
        &mut reader,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM privacy.audit_log;",
    );
    exec(
        &mut admin,
        "INSERT INTO ledger (agent, amount) VALUES ('s', 11)",
    );
    wait_all_sealed(&mut admin, 20);
    let d2 = digest(&mut admin);
    assert_ne!(d1, d2, "a new block changes the digest");

    // A writer whose transaction stays open: its row (id x) commits after higher ids.
    let mut writer = cluster.connect("postgres");
    exec(
        &mut writer,
        "SET privacy.app_user = 'slow'; BEGIN;
         INSERT INTO ledger (agent, amount) VALUES ('slow', 1);",
    );
    let x = int(&mut writer, "SELECT max(id) FROM privacy.audit_log");
    let mut clerk = cluster.connect("clerk");
    exec(&mut clerk, "SET privacy.app_user = 'quick'");
    let until = Instant::now() + Duration::from_secs(3);
    let mut checks = 0;
    while Instant::now() < until {
        exec(
            &mut clerk,
            "INSERT INTO ledger (agent, amount) VALUES ('quick', 1);
             SELECT balance FROM acct WHERE id = 10;",
        );
        let sealed = int(&mut admin, "SELECT max(last_id) FROM privacy.audit_seals");
        assert!(
            sealed < x,
            "rows from {x} on sealed while {x} is uncommitted: {sealed}"
        );
        assert_verified(&mut admin, "while a writer is open");
        checks += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(checks > 5);
    assert_eq!(
        digest(&mut admin),
        d2,
        "nothing sealed while the writer is open"
    );
    exec(&mut writer, "COMMIT");
    flush(&mut admin);
    wait_all_sealed(&mut admin, 20);
    assert_verified(&mut admin, "after the writer committed");
    assert_eq!(
        int(
            &mut admin,
            &format!(
                "SELECT count(*) FROM privacy.audit_seals WHERE {x} BETWEEN first_id AND last_id"
            )
        ),
        1,
        "the late row is sealed"
    );
    let d3 = digest(&mut admin);
    assert_ne!(d2, d3);

    // The same with a writer that rolls back: its id never appears; sealing goes on after.
    exec(
        &mut writer,
        "BEGIN; INSERT INTO ledger (agent, amount) VALUES ('slow', 2);",
    );
    let y = int(&mut writer, "SELECT max(id) FROM privacy.audit_log");
    for _ in 0..5 {
        exec(
            &mut clerk,
            "INSERT INTO ledger (agent, amount) VALUES ('quick', 2)",
        );
    }
    std::thread::sleep(Duration::from_millis(1500));
    let sealed = int(&mut admin, "SELECT max(last_id) FROM privacy.audit_seals");
    assert!(sealed < y, "{sealed} >= {y}");
    exec(&mut writer, "ROLLBACK");
    wait_all_sealed(&mut admin, 20);
    assert_eq!(
        int(
            &mut admin,
            &format!("SELECT count(*) FROM privacy.audit_log WHERE id = {y}")
        ),
        0
    );
    assert_verified(&mut admin, "after the writer rolled back");
    exec(&mut reader, "COMMIT");
    // Blocks chain: each starts after the previous one and names its hash.
    assert_eq!(
        int(
            &mut admin,
            "SELECT count(*) FROM privacy.audit_seals s JOIN privacy.audit_seals p ON p.block_no = s.block_no - 1
              WHERE s.prev_hash <> p.hash OR s.first_id <= p.last_id"
        ),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Audit retention

/// Blocks sealed more than a minute before `privacy.audit_retention = '1min'` is set are
/// removed by the worker at once, younger ones stay, and the cut is recorded and verifies.
/// Takes a little over a minute: the shortest retention is one minute.
#[test]
fn audit_retention_removes_old_sealed_blocks_and_verify_still_passes() {
    let started = Instant::now();
    let (cluster, mut admin) = shop("audit-retention", &["privacy.audit_retention = 0"]);
    exec(&mut admin, "SET privacy.app_user = 'old'");
    for k in 0..3 {
        exec(
            &mut admin,
            &format!("INSERT INTO ledger (agent, amount) VALUES ('old', {k})"),
        );
        wait_all_sealed(&mut admin, 20);
    }
    let old_block = int(&mut admin, "SELECT max(block_no) FROM privacy.audit_seals");
    let old_last = int(&mut admin, "SELECT max(last_id) FROM privacy.audit_seals");
    let old_rows = int(&mut admin, "SELECT count(*) FROM privacy.audit_log");
    assert!(old_block >= 2, "{old_block}");

    // Younger rows, sealed about ten seconds before retention is set.
    std::thread::sleep(Duration::from_secs(50));
    exec(
        &mut admin,
        "SET privacy.app_user = 'young';
         INSERT INTO ledger (agent, amount) SELECT 'young', g FROM generate_series(1, 5) g;",
    );
    wait_all_sealed(&mut admin, 20);
    let young_rows = int(
        &mut admin,
        &format!("SELECT count(*) FROM privacy.audit_log WHERE id > {old_last}"),
    );
    assert!(wait_until(
        &mut admin,
        &format!(
            "SELECT max(sealed_at) < now() - interval '62 seconds' FROM privacy.audit_seals
              WHERE block_no <= {old_block}"
        ),
        30
    ));
    cluster.append_conf("privacy.audit_retention = '1min'");
    cluster.reload();
    assert!(
        wait_until(
            &mut admin,
            "SELECT EXISTS (SELECT FROM privacy.audit_log WHERE action = 'AUDIT_RETENTION')",
            15
        ),
        "no audit retention; log:\n{}",
        cluster.log()
    );
    assert_eq!(
        value(&mut admin, "SHOW privacy.audit_retention").as_deref(),
        Some("1min")
    );
    let r = rows(
        &mut admin,
        "SELECT detail->>'through_block', detail->>'through_id', detail->>'rows', rows, object
           FROM privacy.audit_log WHERE action = 'AUDIT_RETENTION'",
    );
    assert_eq!(
        r,
        vec![vec![
            Some(old_block.to_string()),
            Some(old_last.to_string()),
            Some(old_rows.to_string()),
            Some(old_rows.to_string()),
            Some("privacy.audit_log".to_string()),
        ]]
    );
    assert_eq!(
        int(
            &mut admin,
            &format!("SELECT count(*) FROM privacy.audit_log WHERE id <= {old_last}")
        ),
        0
    );
    assert_eq!(
        int(
            &mut admin,
            &format!(
                "SELECT count(*) FROM privacy.audit_log WHERE id > {old_last} AND action <> 'AUDIT_RETENTION'"
            )
        ),
        young_rows,
        "younger rows stay"
    );
    assert_eq!(
        int(&mut admin, "SELECT count(*) FROM privacy.audit_seals"),
        int(&mut admin, "SELECT max(block_no) FROM privacy.audit_seals"),
        "the seals of removed blocks stay, so the chain still verifies"
    );
    assert_verified(&mut admin, "after audit retention");
    // The retention row itself gets sealed; verify still passes.
    assert!(wait_until(
        &mut admin,
        "SELECT (SELECT max(last_id) FROM privacy.audit_seals) >= (SELECT max(id) FROM privacy.audit_log)",
        20
    ));
    assert_verified(&mut admin, "after the cut was sealed");
    eprintln!("audit retention: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// 10. Permissions

#[test]
fn auditors_read_and_check_but_change_nothing_and_others_see_nothing() {
    let (cluster, mut admin) = shop("audit-perms", &[]);
    exec(
        &mut admin,
        "CREATE ROLE aud LOGIN IN ROLE privacy_auditor;
         CREATE ROLE plain LOGIN;
         CREATE ROLE adm LOGIN IN ROLE privacy_admin;
         CREATE TABLE plain_owned (id int PRIMARY KEY, v text);
         ALTER TABLE plain_owned OWNER TO plain;
         CREATE TABLE by_admin (id int PRIMARY KEY, v text);",
    );
    flush(&mut admin);
    wait_all_sealed(&mut admin, 20);
    let block = int(&mut admin, "SELECT max(block_no) FROM privacy.audit_seals");

    let mut aud = cluster.connect("aud");
    for sql in [
        "SELECT count(*) FROM privacy.audit_log",
        "SELECT count(*) FROM privacy.audit_seals",
        "SELECT count(*) FROM privacy.audited_tables",
        "SELECT count(*) FROM privacy.sensitive_access",
        "SELECT count(*) FROM privacy.access_review",
        "SELECT count(*) FROM privacy.audit_verify() WHERE ok",
        "SELECT count(privacy.audit_digest())",
        "SELECT count(*) FROM privacy.suspicious_access()",
        "SELECT count(privacy.audit_flush())",
    ] {
        assert_eq!(rows(&mut aud, sql).len(), 1, "{sql}");
    }
    assert_eq!(
        int(
            &mut aud,
            "SELECT count(*) FROM privacy.audit_verify() WHERE ok"
        ),
        1
    );
    for sql in [
        "INSERT INTO privacy.audit_log (action, object) VALUES ('SELECT', 'forged')".to_string(),
        "UPDATE privacy.audit_log SET app_user = 'x'".to_string(),
        "DELETE FROM privacy.audit_log".to_string(),
        "TRUNCATE privacy.audit_log".to_string(),
        "INSERT INTO privacy.audit_seals (block_no, first_id, last_id, row_count, prev_hash, hash)
         VALUES (1000, 1, 1, 1, '', '')"
            .to_string(),
        format!("UPDATE privacy.audit_seals SET row_count = 0 WHERE block_no = {block}"),
        "DELETE FROM privacy.audit_seals".to_string(),
        "INSERT INTO privacy.audited_tables (tbl, created_by) VALUES ('acct', 'aud')".to_string(),
        "DELETE FROM privacy.audited_tables".to_string(),
        "SELECT privacy.audit_table('by_admin')".to_string(),
        "SELECT privacy.audit_table('by_admin', NULL, true)".to_string(),
        "SELECT privacy.unaudit_table('acct')".to_string(),
        "SELECT privacy._admin_event('KEY_CREATE', 'forged')".to_string(),
        "SELECT privacy.grant_decrypt('pii', 'aud')".to_string(),
    ] {
        assert_eq!(fails(&mut aud, &sql), "42501", "auditor: {sql}");
    }

    let mut plain = cluster.connect("plain");
    for sql in [
        "SELECT count(*) FROM privacy.audit_log",
        "SELECT count(*) FROM privacy.audit_seals",
        "SELECT count(*) FROM privacy.sensitive_access",
        "SELECT count(*) FROM privacy.access_review",
        "SELECT * FROM privacy.audit_verify()",
        "SELECT privacy.audit_digest()",
        "SELECT * FROM privacy.suspicious_access()",
        "SELECT privacy.audit_table('plain_owned')",
        "SELECT privacy.unaudit_table('acct')",
        "SELECT privacy._admin_event('KEY_CREATE', 'forged')",
        "INSERT INTO privacy.audit_log (action) VALUES ('SELECT')",
    ] {
        assert_eq!(fails(&mut plain, sql), "42501", "plain role: {sql}");
    }

    // A privacy_admin member who is not a superuser manages auditing.
    let mut adm = cluster.connect("adm");
    exec(
        &mut adm,
        "SELECT privacy.audit_table('by_admin', '{v}', true);",
    );
    exec(&mut admin, "INSERT INTO by_admin VALUES (1, 'a')");
    assert_eq!(
        value(
            &mut aud,
            "SELECT new_values::text FROM privacy.audit_log WHERE object = 'public.by_admin'"
        )
        .as_deref(),
        Some(r#"{"v": "a"}"#)
    );
    exec(&mut adm, "SELECT privacy.unaudit_table('by_admin')");
    assert_eq!(
        int(
            &mut aud,
            "SELECT count(*) FROM privacy.audit_log WHERE action = 'AUDIT_TABLE' AND \"current_role\" = 'adm'"
        ),
        2
    );
}

// ---------------------------------------------------------------------------------------------
// 11. Masked values in DML rows

const PLAIN: [&str; 8] = [
    "alice.archer@example.com",
    "alice.new@example.org",
    "090-1234-5678",
    "080-9999-0000",
    "4111 1111 1111 1111",
    "secret-note-3",
    "bob.baker@example.net",
    "carol@example.com",
];

#[test]
fn dml_rows_hold_masked_values_and_key_references_never_plaintext() {
    let (cluster, mut admin) = shop("audit-masked", &[]);
    exec(
        &mut admin,
        "CREATE TABLE customers (id int PRIMARY KEY, email text, phone text,
                                 card privacy.encrypted_text, note text);
         SELECT privacy.mask_column('customers', 'email', 'privacy.mask_email(email)');
         SELECT privacy.mask_column('customers', 'phone', 'privacy.mask_phone(phone)');
         SELECT privacy.audit_table('customers');
         CREATE ROLE sup LOGIN;
         SELECT privacy.unmask_column('customers', 'email', 'sup');
         GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO sup;
         SET privacy.app_user = 'masked-test';",
    );
    let mask =
        |c: &mut Client, f: &str, v: &str| value(c, &format!("SELECT privacy.{f}('{v}')")).unwrap();
    let m_email1 = mask(&mut admin, "mask_email", PLAIN[0]);
    let m_email2 = mask(&mut admin, "mask_email", PLAIN[1]);
    let m_phone1 = mask(&mut admin, "mask_phone", PLAIN[2]);
    let m_phone2 = mask(&mut admin, "mask_phone", PLAIN[3]);
    exec(
        &mut admin,
        &format!(
            "INSERT INTO customers VALUES (1, '{}', '{}', privacy.encrypt('{}', 'pii', '1'), 'VIP');
             UPDATE customers SET email = '{}', phone = '{}' WHERE id = 1;",
            PLAIN[0], PLAIN[2], PLAIN[4], PLAIN[1], PLAIN[3]
        ),
    );
    exec(&mut admin, "SELECT privacy.rotate_key('pii')");
    exec(
        &mut admin,
        &format!(
            "UPDATE customers SET card = privacy.encrypt('{}', 'pii', '1') WHERE id = 1;
             DELETE FROM customers WHERE id = 1;",
            PLAIN[4]
        ),
    );
    let got = rows(
        &mut admin,
        "SELECT action, row_key::text, old_values::text, new_values::text, columns::text
           FROM privacy.audit_log WHERE object = 'public.customers' ORDER BY id",
    );
    let obj = |email: &str, phone: &str, card: &str| {
        Some(format!(
            r#"{{"id": 1, "card": "{card}", "note": "VIP", "email": "{email}", "phone": "{phone}"}}"#
        ))
    };
    let cols = Some("{id,email,phone,card,note}".to_string());
    let key1 = Some(r#"{"id": 1}"#.to_string());
    assert_eq!(
        got,
        vec![
            vec![
                Some("INSERT".into()),
                key1.clone(),
                None,
                obj(&m_email1, &m_phone1, "pii:1"),
                cols.clone()
            ],
            vec![
                Some("UPDATE".into()),
                key1.clone(),
                obj(&m_email1, &m_phone1, "pii:1"),
                obj(&m_email2, &m_phone2, "pii:1"),
                cols.clone()
            ],
            vec![
                Some("UPDATE".into()),
                key1.clone(),
                obj(&m_email2, &m_phone2, "pii:1"),
                obj(&m_email2, &m_phone2, "pii:2"),
                cols.clone()
            ],
            vec![
                Some("DELETE".into()),
                key1.clone(),
                obj(&m_email2, &m_phone2, "pii:2"),
                None,
                cols.clone()
            ],
        ]
    );

    // A writer who sees email unmasked still leaves the default mask in the audit.
    let mut sup = cluster.connect("sup");
    exec(
        &mut sup,
        &format!(
            "INSERT INTO customers (id, email) VALUES (2, '{}')",
            PLAIN[6]
        ),
    );
    let m_email3 = mask(&mut admin, "mask_email", PLAIN[6]);
    assert_eq!(
        value(
            &mut admin,
            "SELECT new_values->>'email' FROM privacy.audit_log WHERE object = 'public.customers' AND row_key->>'id' = '2'"
        ),
        Some(m_email3)
    );

    // A mask added after the session wrote to the table applies to its next write; a narrower
    // audit keeps only its columns.
    exec(
        &mut sup,
        "INSERT INTO customers (id, note) VALUES (3, 'plain-3')",
    );
    exec(
        &mut admin,
        "SELECT privacy.mask_column('customers', 'note', 'NULL')",
    );
    exec(
        &mut sup,
        &format!("UPDATE customers SET note = '{}' WHERE id = 3", PLAIN[5]),
    );
    assert_eq!(
        rows(
            &mut admin,
            "SELECT new_values ? 'note', new_values->>'note' FROM privacy.audit_log
              WHERE object = 'public.customers' AND row_key->>'id' = '3' ORDER BY id"
        ),
        vec![
            vec![Some("t".to_string()), Some("plain-3".to_string())],
            vec![Some("t".to_string()), None],
        ]
    );
    exec(
        &mut admin,
        "SELECT privacy.audit_table('customers', '{email,card}')",
    );
    exec(
        &mut sup,
        &format!(
            "UPDATE customers SET email = '{}', note = 'n' WHERE id = 2",
            PLAIN[7]
        ),
    );
    let m_email4 = mask(&mut admin, "mask_email", PLAIN[7]);
    assert_eq!(
        rows(
            &mut admin,
            "SELECT columns::text, row_key::text, new_values::text FROM privacy.audit_log
              WHERE object = 'public.customers' ORDER BY id DESC LIMIT 1"
        ),
        vec![vec![
            Some("{email,card}".to_string()),
            Some(r#"{"id": 2}"#.to_string()),
            Some(format!(r#"{{"card": null, "email": "{m_email4}"}}"#)),
        ]]
    );

    let all = value(
        &mut admin,
        "SELECT string_agg(l::text, ' | ') FROM privacy.audit_log l",
    )
    .unwrap();
    for p in PLAIN {
        assert!(!all.contains(p), "{p} is in the audit log:\n{all}");
    }
    assert!(!all.contains("enc1:"), "a ciphertext is in the audit log");
}

// ---------------------------------------------------------------------------------------------
// 12. UNMASK events and the auditor's views

#[test]
fn unmasked_reads_decrypt_bursts_and_access_review() {
    let (cluster, mut admin) = shop("audit-unmask", &[]);
    exec(
        &mut admin,
        "CREATE TABLE customers (id int PRIMARY KEY, email text, phone text, card privacy.encrypted_text);
         INSERT INTO customers SELECT g, 'user' || g || '@example.com', '090-0000-' || lpad(g::text, 4, '0'),
                                      privacy.encrypt('card-' || g, 'pii', g::text)
           FROM generate_series(1, 150) g;
         SELECT privacy.mask_column('customers', 'email', 'privacy.mask_email(email)');
         SELECT privacy.mask_column('customers', 'phone', 'privacy.mask_phone(phone)');
         CREATE ROLE supervisors NOLOGIN;
         CREATE ROLE sam LOGIN IN ROLE supervisors;
         CREATE ROLE desk_agents NOLOGIN;
         CREATE ROLE alice LOGIN IN ROLE desk_agents;
         SELECT privacy.unmask_column('customers', 'email', 'supervisors');
         GRANT SELECT ON masked.customers TO desk_agents, supervisors;
         GRANT SELECT ON secrets TO desk_agents;
         GRANT SELECT ON customers TO supervisors;
         SELECT privacy.grant_decrypt('pii', 'supervisors');",
    );
    let review = |c: &mut Client| {
        rows(
            c,
            "SELECT object, privilege, grantee, last_used_at IS NOT NULL FROM privacy.access_review
              WHERE grantee = 'supervisors' ORDER BY 1, 2",
        )
    };
    let entry = |object: &str, privilege: &str, used: bool| {
        vec![
            Some(object.to_string()),
            Some(privilege.to_string()),
            Some("supervisors".to_string()),
            Some(if used { "t" } else { "f" }.to_string()),
        ]
    };
    assert_eq!(
        review(&mut admin),
        vec![
            entry("key pii", "decrypt", false),
            entry("public.customers", "unmask", false)
        ]
    );

    let mut sam = cluster.connect("sam");
    let mut alice = cluster.connect("alice");
    exec(&mut sam, "SET privacy.app_user = 'sam-desk'");
    exec(&mut alice, "SET privacy.app_user = 'alice-desk'");
    // sam sees email unmasked: one UNMASK event naming it; reading only masked columns, none.
    assert_eq!(
        rows(
            &mut sam,
            "SELECT id, email, phone FROM masked.customers WHERE id <= 3"
        )
        .len(),
        3
    );
    exec(&mut sam, "SELECT phone FROM masked.customers WHERE id <= 3");
    // alice is masked: no UNMASK event.
    exec(
        &mut alice,
        "SELECT id, email, phone FROM masked.customers WHERE id <= 3",
    );
    flush(&mut admin);
    assert_eq!(
        rows(
            &mut admin,
            "SELECT app_user, \"current_role\", object, columns::text, rows, detail->>'view'
               FROM privacy.audit_log WHERE action = 'UNMASK' ORDER BY id"
        ),
        vec![vec![
            Some("sam-desk".to_string()),
            Some("sam".to_string()),
            Some("public.customers".to_string()),
            Some("{email}".to_string()),
            Some("3".to_string()),
            Some("masked.customers".to_string()),
        ]]
    );
    assert_eq!(
        review(&mut admin),
        vec![
            entry("key pii", "decrypt", false),
            entry("public.customers", "unmask", true)
        ]
    );

    // A burst of 150 decrypts in one statement; alice tries 10 and is refused.
    assert_eq!(
        int(
            &mut sam,
            "SELECT count(privacy.decrypt(card, id::text)) FROM customers"
        ),
        150
    );
    assert_eq!(
        int(
            &mut alice,
            "SELECT count(privacy.try_decrypt(card, id::text)) FROM secrets WHERE id <= 10"
        ),
        0
    );
    flush(&mut admin);
    assert_eq!(
        review(&mut admin),
        vec![
            entry("key pii", "decrypt", true),
            entry("public.customers", "unmask", true)
        ]
    );
    let mut want = Counts::new();
    want.insert(key("sam-desk", "UNMASK", "public.customers"), (1, 3));
    want.insert(key("sam-desk", "DECRYPT", "key pii"), (1, 150));
    want.insert(key("alice-desk", "DECRYPT_DENIED", "key pii"), (1, 10));
    assert_eq!(counts(&mut admin, "%-desk"), want);
    assert_eq!(
        rows(
            &mut admin,
            "SELECT \"current_role\", action, events, rows FROM privacy.sensitive_access
              WHERE app_user LIKE '%-desk' ORDER BY 1, 2"
        ),
        vec![
            vec![
                Some("alice".into()),
                Some("DECRYPT_DENIED".into()),
                Some("1".into()),
                Some("10".into())
            ],
            vec![
                Some("sam".into()),
                Some("DECRYPT".into()),
                Some("1".into()),
                Some("150".into())
            ],
            vec![
                Some("sam".into()),
                Some("UNMASK".into()),
                Some("1".into()),
                Some("3".into())
            ],
        ]
    );
    // One window for everything (ten years): exact counts. sam: 150 values + 1 unmasked read.
    let flagged = |c: &mut Client, threshold: i32| {
        rows(
            c,
            &format!(
                "SELECT \"current_role\", app_user, events, objects::text
                   FROM privacy.suspicious_access('3650 days', {threshold}) WHERE app_user LIKE '%-desk'"
            ),
        )
    };
    let sam_row = vec![
        Some("sam".to_string()),
        Some("sam-desk".to_string()),
        Some("151".to_string()),
        Some("{\"key pii\",public.customers}".to_string()),
    ];
    assert_eq!(flagged(&mut admin, 150), vec![sam_row.clone()]);
    assert_eq!(flagged(&mut admin, 151), Vec::<Vec<Option<String>>>::new());
    assert_eq!(
        flagged(&mut admin, 9).len(),
        2,
        "alice's 10 refused values count"
    );
    // The defaults (one hour, more than 100): sam is flagged, alice is not.
    assert_eq!(
        column_of(
            &mut admin,
            "SELECT DISTINCT \"current_role\" FROM privacy.suspicious_access() WHERE app_user LIKE '%-desk'"
        ),
        vec![Some("sam".to_string())]
    );
}

fn column_of(c: &mut Client, sql: &str) -> Vec<Option<String>> {
    rows(c, sql).into_iter().map(|mut r| r.remove(0)).collect()
}

// ---------------------------------------------------------------------------------------------
// Other read paths

#[test]
fn copy_and_views_over_an_audited_table_are_reads() {
    let (cluster, mut admin) = shop("audit-copy", &[]);
    exec(
        &mut admin,
        "CREATE VIEW acct_view AS SELECT id, balance, note FROM acct;
         GRANT SELECT ON acct_view TO agents;",
    );
    let mut clerk = cluster.connect("clerk");
    exec(&mut clerk, "SET privacy.app_user = 'copy-test'");
    let mut out = String::new();
    std::io::Read::read_to_string(
        &mut clerk.copy_out("COPY acct (id, balance) TO STDOUT").unwrap(),
        &mut out,
    )
    .unwrap();
    assert_eq!(out.lines().count(), 32);
    // COPY of columns that are not audited: nothing.
    let mut out = String::new();
    std::io::Read::read_to_string(
        &mut clerk.copy_out("COPY acct (id, note) TO STDOUT").unwrap(),
        &mut out,
    )
    .unwrap();
    assert_eq!(out.lines().count(), 32);
    exec(&mut clerk, "SELECT balance FROM acct_view WHERE id = 10");
    // EXPLAIN without ANALYZE reads nothing.
    exec(&mut clerk, "EXPLAIN SELECT balance FROM acct");
    flush(&mut admin);
    assert_eq!(
        rows(
            &mut admin,
            "SELECT object, columns::text, rows, detail->>'statement' FROM privacy.audit_log
              WHERE app_user = 'copy-test' ORDER BY id"
        ),
        vec![
            vec![
                Some("public.acct".to_string()),
                Some("{balance}".to_string()),
                Some("32".to_string()),
                Some("COPY".to_string())
            ],
            vec![
                Some("public.acct".to_string()),
                Some("{balance}".to_string()),
                Some("1".to_string()),
                None
            ],
        ]
    );
}

/// A statement that reads only columns that are not audited through an ordinary view logs
/// the audited columns the view's definition uses (masked views already get this right).
#[test]
fn a_read_through_a_view_names_only_the_columns_it_read() {
    let (cluster, mut admin) = shop("audit-view", &[]);
    exec(
        &mut admin,
        "CREATE VIEW acct_view AS SELECT id, owner, balance, note FROM acct;
         GRANT SELECT ON acct_view TO agents;",
    );
    let mut clerk = cluster.connect("clerk");
    exec(&mut clerk, "SET privacy.app_user = 'view-test'");
    exec(&mut clerk, "SELECT note FROM acct_view WHERE id = 10");
    exec(&mut clerk, "SELECT owner FROM acct_view WHERE id = 10");
    flush(&mut admin);
    assert_eq!(
        column_of(
            &mut admin,
            "SELECT columns::text FROM privacy.audit_log WHERE app_user = 'view-test' ORDER BY id"
        ),
        vec![Some("{owner}".to_string())]
    );
}

/// With a long flush interval, committed DML rows are still sealed within seconds (the worker
/// seals "at least every second"; queued reads wait for the interval).
#[test]
fn sealing_does_not_wait_for_a_long_flush_interval() {
    let (_cluster, mut admin) = shop("audit-sealwait", &["privacy.audit_flush_interval = 60000"]);
    std::thread::sleep(Duration::from_secs(2));
    exec(
        &mut admin,
        "INSERT INTO ledger (agent, amount) VALUES ('late', 1)",
    );
    let started = Instant::now();
    wait_all_sealed(&mut admin, 10);
    eprintln!("sealed after {:?}", started.elapsed());
}

/// A cursor still open when its transaction is rolled back (or fails) read rows the client
/// saw; the read is not logged. And a cursor fetched in several steps is logged with the rows
/// of its last FETCH only.
#[test]
fn cursor_reads_are_logged_with_every_row_fetched() {
    let (cluster, mut admin) = shop("audit-cursor", &[]);
    let mut clerk = cluster.connect("clerk");
    exec(&mut clerk, "SET privacy.app_user = 'cursor-fetches'");
    exec(
        &mut clerk,
        "BEGIN; DECLARE c CURSOR FOR SELECT balance FROM acct ORDER BY id;
         FETCH 3 FROM c; FETCH 2 FROM c; CLOSE c; COMMIT;",
    );
    exec(&mut clerk, "SET privacy.app_user = 'cursor-rollback'");
    exec(
        &mut clerk,
        "BEGIN; DECLARE c CURSOR FOR SELECT balance FROM acct ORDER BY id;
         FETCH 3 FROM c; ROLLBACK;",
    );
    exec(&mut clerk, "SET privacy.app_user = 'cursor-error'");
    exec(
        &mut clerk,
        "BEGIN; DECLARE c CURSOR FOR SELECT owner FROM acct ORDER BY id; FETCH 4 FROM c;",
    );
    assert_eq!(fails(&mut clerk, "SELECT 1 / 0"), "22012");
    exec(&mut clerk, "ROLLBACK");
    flush(&mut admin);
    let mut want = Counts::new();
    want.insert(key("cursor-fetches", "SELECT", "public.acct"), (1, 5));
    want.insert(key("cursor-rollback", "SELECT", "public.acct"), (1, 3));
    want.insert(key("cursor-error", "SELECT", "public.acct"), (1, 4));
    assert_eq!(counts(&mut admin, "cursor-%"), want);
}
