//! Masking and redaction against a live server: custom patterns reach other sessions, hostile
//! input stays linear, scan_table respects privileges, masks run in parallel workers.

use pg_privacy_integration::{cluster_with_key, random_key_hex, sqlstate, Cluster};

fn cluster(name: &str) -> Cluster {
    cluster_with_key(name, &format!("it-root {}", random_key_hex()), &[])
}

#[test]
fn a_new_pattern_reaches_open_sessions_at_their_next_statement() {
    let cluster = cluster("patterns");
    let mut admin = cluster.with_extension();
    let mut other = cluster.connect("postgres");
    let before: String = other
        .query_one("SELECT privacy.redact('ref TKT-123456')", &[])
        .unwrap()
        .get(0);
    assert_eq!(before, "ref TKT-123456");
    admin
        .batch_execute(
            "INSERT INTO privacy.redaction_patterns VALUES ('ticket', 'ticket', 'TKT-[0-9]{6}')",
        )
        .unwrap();
    let after: String = other
        .query_one("SELECT privacy.redact('ref TKT-123456')", &[])
        .unwrap()
        .get(0);
    assert_eq!(after, "ref [TICKET]");
    admin
        .batch_execute("DELETE FROM privacy.redaction_patterns")
        .unwrap();
    let gone: String = other
        .query_one("SELECT privacy.redact('ref TKT-123456')", &[])
        .unwrap()
        .get(0);
    assert_eq!(gone, "ref TKT-123456");
}

#[test]
fn hostile_patterns_and_input_stay_linear() {
    let cluster = cluster("redos");
    let mut c = cluster.with_extension();
    // Patterns that make backtracking engines explode; Rust's regex runs them in linear time.
    c.batch_execute(
        "INSERT INTO privacy.redaction_patterns VALUES ('nested', 'nested', '(a+)+b'), ('alt', 'alt', '(a|aa)*c');
         SET statement_timeout = '20s';",
    )
    .unwrap();
    let text = "a".repeat(200_000) + " 090-1234-5678";
    let out: String = c
        .query_one("SELECT privacy.redact($1)", &[&text])
        .unwrap()
        .get(0);
    assert!(out.ends_with(" [PHONE]"));
    // A megabyte of digits, separators and at-signs: nothing pathological either.
    let noisy: String = (0..100_000).map(|i| format!("{}-@.", i % 10)).collect();
    let n: i64 = c
        .query_one("SELECT count(*) FROM privacy.detect_pii($1)", &[&noisy])
        .unwrap()
        .get(0);
    assert!(n >= 0);
}

#[test]
fn scan_table_runs_with_the_callers_rights() {
    let cluster = cluster("scan");
    let mut admin = cluster.with_extension();
    admin
        .batch_execute(
            "CREATE TABLE notes (id int, body text);
             INSERT INTO notes VALUES (1, 'mail a@example.com'), (2, 'nothing');
             CREATE ROLE agent LOGIN;",
        )
        .unwrap();
    let rows = admin
        .query(
            "SELECT column_name::text, category, hit_ratio FROM privacy.scan_table('notes')",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].get::<_, String>(0),
            rows[0].get::<_, String>(1),
            rows[0].get::<_, f64>(2)
        ),
        ("body".into(), "email".into(), 0.5)
    );
    let mut agent = cluster.connect("agent");
    let err = agent
        .query("SELECT * FROM privacy.scan_table('notes')", &[])
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501");
}

#[test]
fn immutable_masks_run_in_parallel_workers() {
    let cluster = cluster("parallel");
    let mut c = cluster.with_extension();
    c.batch_execute(
        "CREATE TABLE people AS SELECT i AS id, 'user' || i || '@example.com' AS email FROM generate_series(1, 200000) i;
         ANALYZE people;
         SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
         SET min_parallel_table_scan_size = 0;",
    )
    .unwrap();
    let plan: Vec<String> = c
        .query(
            "EXPLAIN SELECT count(*) FROM people WHERE privacy.mask_email(email) LIKE 'u****%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter().any(|l| l.contains("Parallel Seq Scan")),
        "{plan:?}"
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM people WHERE privacy.mask_email(email) = left(email, 1) || repeat('*', strpos(email, '@') - 2) || substr(email, strpos(email, '@'))", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 200_000);
}
