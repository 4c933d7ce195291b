//! Root key loading against a live server: a good key, rotation lines, malformed output, a
//! failing command, a hanging command, no command, no preload. In every failing case the
//! server still starts, key-dependent functions fail with 55000 and a hint naming the setting,
//! and nothing the command printed reaches an error or the server log.

use pg_privacy_integration::{cluster_with_key, error_text, random_key_hex, sqlstate, Cluster};
use serde_json::Value;

fn status(c: &mut postgres::Client) -> Value {
    let row = c.query_one("SELECT privacy.status()::text", &[]).unwrap();
    serde_json::from_str(row.get::<_, &str>(0)).unwrap()
}

fn fingerprint_error(c: &mut postgres::Client) -> postgres::Error {
    c.query_one("SELECT privacy.root_key_fingerprint()", &[])
        .expect_err("no key is loaded")
}

#[test]
fn a_good_key_file_is_loaded_once_at_start_and_survives_restart() {
    let key = random_key_hex();
    let cluster = cluster_with_key("goodkey", &format!("bank-2026-q4 {key}"), &[]);
    let mut c = cluster.with_extension();
    let s = status(&mut c);
    assert_eq!(s["preloaded"], true);
    assert_eq!(s["root_key"]["loaded"], true);
    assert_eq!(s["root_key"]["active_id"], "bank-2026-q4");
    assert_eq!(s["root_key"]["source"], "postmaster");
    let fp: String = c
        .query_one("SELECT privacy.root_key_fingerprint()", &[])
        .unwrap()
        .get(0);
    assert!(fp.starts_with("bank-2026-q4:"), "{fp}");
    assert!(!s.to_string().contains(&key[..16]));

    cluster.restart();
    let mut c = cluster.connect("postgres");
    let again: String = c
        .query_one("SELECT privacy.root_key_fingerprint()", &[])
        .unwrap()
        .get(0);
    assert_eq!(fp, again, "same key file, same fingerprint after restart");
    assert_eq!(
        cluster
            .log()
            .matches("pg_privacy: loaded 1 root key(s)")
            .count(),
        2,
        "once per start"
    );
}

#[test]
fn same_key_on_two_clusters_gives_the_same_fingerprint_and_a_different_key_does_not() {
    let key = random_key_hex();
    let mut prints = Vec::new();
    for (i, k) in [key.clone(), key.clone(), random_key_hex()]
        .iter()
        .enumerate()
    {
        let cluster = Cluster::builder(&format!("fp{i}"))
            .setting(format!("privacy.root_key_command = 'echo shared {k}'"))
            .start();
        let mut c = cluster.with_extension();
        prints.push(
            c.query_one("SELECT privacy.root_key_fingerprint()", &[])
                .unwrap()
                .get::<_, String>(0),
        );
    }
    assert_eq!(prints[0], prints[1]);
    assert_ne!(prints[0], prints[2]);
}

#[test]
fn older_root_keys_after_the_first_line_are_kept_for_unwrapping() {
    let (new, old) = (random_key_hex(), random_key_hex());
    let cluster = cluster_with_key(
        "rotation",
        &format!(
            "# rotated
root-v2 {new}
root-v1 {old}"
        ),
        &[],
    );
    let mut c = cluster.with_extension();
    let s = status(&mut c);
    assert_eq!(s["root_key"]["active_id"], "root-v2");
    assert_eq!(
        s["root_key"]["ids"],
        serde_json::json!(["root-v2", "root-v1"])
    );
}

/// Starts a server whose command prints `output` (and a secret on stderr), then checks the
/// failure is reported without echoing anything.
fn assert_refused(name: &str, command: &str, secrets: &[&str], reason_contains: &str) {
    let cluster = Cluster::builder(name)
        .setting(format!(
            "privacy.root_key_command = '{}'",
            command.replace('\'', "''")
        ))
        .setting("log_min_messages = debug1")
        .setting("log_statement = 'all'")
        .setting("privacy.root_key_command_timeout = 2")
        .start();
    let mut c = cluster.with_extension();
    let s = status(&mut c);
    assert_eq!(s["root_key"]["loaded"], false, "{s}");
    assert_eq!(s["root_key"]["command_set"], true);
    let reason = s["root_key"]["error"].as_str().unwrap().to_string();
    assert!(
        reason.contains(reason_contains),
        "reason {reason:?} lacks {reason_contains:?}"
    );

    let err = fingerprint_error(&mut c);
    assert_eq!(sqlstate(&err), "55000");
    let text = error_text(&err);
    assert!(
        text.contains("privacy.root_key_command"),
        "hint names the setting: {text}"
    );

    let log = cluster.log();
    assert!(
        log.contains("pg_privacy: could not load the root key"),
        "the failure is logged"
    );
    for secret in secrets {
        assert!(!text.contains(secret), "error echoes {secret:?}: {text}");
        assert!(!s.to_string().contains(secret), "status echoes {secret:?}");
        assert!(!log.contains(secret), "server log echoes {secret:?}");
    }
}

#[test]
fn malformed_output_is_refused_without_echoing_it() {
    assert_refused(
        "malformed",
        "echo corp-root SECRETHEXSECRETHEX0123456789; echo STDERRSECRET42 >&2",
        &["SECRETHEXSECRETHEX0123456789", "STDERRSECRET42"],
        "line 1: the key must be exactly 64 hexadecimal characters",
    );
}

#[test]
fn a_short_key_a_bad_id_and_extra_fields_are_refused() {
    let key = random_key_hex();
    assert_refused(
        "short",
        &format!("echo k {}", &key[..62]),
        &[&key[..62]],
        "exactly 64",
    );
    assert_refused(
        "badid",
        &format!("echo 'bad id/x' {key}"),
        &[&key],
        "line 1",
    );
    assert_refused(
        "extra",
        &format!("echo k {key} trailing-junk-77"),
        &[&key, "trailing-junk-77"],
        "line 1",
    );
}

#[test]
fn a_failing_command_is_reported_by_exit_status_only() {
    assert_refused(
        "failing",
        "echo KMSOUTPUTSECRET99; echo KMSERRORSECRET77 >&2; exit 3",
        &["KMSOUTPUTSECRET99", "KMSERRORSECRET77"],
        "exited with status 3",
    );
    assert_refused(
        "notfound",
        "/nonexistent/kms-cli --get-key",
        &[],
        "command not found",
    );
}

#[test]
fn a_hanging_command_is_killed_after_the_timeout() {
    let started = std::time::Instant::now();
    assert_refused("hanging", "sleep 600", &[], "did not finish within 2 s");
    // Postmaster start (2 s), then one lazy retry in the backend (2 s), and no more.
    assert!(
        started.elapsed().as_secs() < 30,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn without_a_command_the_extension_installs_and_key_functions_fail_with_a_hint() {
    let cluster = Cluster::builder("nocommand").start();
    let mut c = cluster.with_extension();
    let s = status(&mut c);
    assert_eq!(s["root_key"]["loaded"], false);
    assert_eq!(s["root_key"]["command_set"], false);
    assert_eq!(
        s["root_key"]["error"],
        "privacy.root_key_command is not set"
    );
    let err = fingerprint_error(&mut c);
    assert_eq!(sqlstate(&err), "55000");
    let text = error_text(&err);
    assert!(text.contains("no root key is loaded"), "{text}");
    assert!(
        text.contains("hint: Set privacy.root_key_command"),
        "{text}"
    );
    assert!(
        !cluster.log().contains("could not load the root key"),
        "an unset command is not a warning"
    );
}

#[test]
fn without_preload_the_key_is_loaded_lazily_in_the_backend() {
    let key = random_key_hex();
    let cluster = Cluster::builder("lazy")
        .without_preload()
        .setting(format!("privacy.root_key_command = 'echo lazy-root {key}'"))
        .start();
    let mut c = cluster.with_extension();
    let s = status(&mut c);
    assert_eq!(s["preloaded"], false);
    assert_eq!(s["root_key"]["loaded"], true);
    assert_eq!(s["root_key"]["source"], "backend");
    assert_eq!(s["root_key"]["active_id"], "lazy-root");
    let context: String = c
        .query_one(
            "SELECT context FROM pg_settings WHERE name = 'privacy.root_key_command'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        context, "sighup",
        "a library loaded after start cannot define server-start settings"
    );
    // A second session loads the key itself, once.
    let mut other = cluster.connect("postgres");
    let fp: String = other
        .query_one("SELECT privacy.root_key_fingerprint()", &[])
        .unwrap()
        .get(0);
    assert!(fp.starts_with("lazy-root:"));
}

#[test]
fn the_command_and_its_timeout_are_hidden_from_ordinary_roles() {
    let cluster = Cluster::builder("hidden")
        .setting(format!(
            "privacy.root_key_command = 'echo r {}'",
            random_key_hex()
        ))
        .start();
    let mut admin = cluster.with_extension();
    admin.batch_execute("CREATE ROLE agent LOGIN").unwrap();
    let mut agent = cluster.connect("agent");
    for setting in [
        "privacy.root_key_command",
        "privacy.root_key_command_timeout",
    ] {
        let err = agent.batch_execute(&format!("SHOW {setting}")).unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{setting}");
    }
    let err = agent
        .batch_execute("SET privacy.root_key_command = 'true'")
        .unwrap_err();
    assert_eq!(
        sqlstate(&err),
        "55P02",
        "postmaster-level: cannot be changed after start"
    );
    let n: i64 = agent
        .query_one(
            "SELECT count(*) FROM pg_settings WHERE name = 'privacy.root_key_command'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "pg_settings hides superuser-only settings");
}

#[test]
fn a_root_key_rotation_rewraps_every_data_key_without_touching_data() {
    let (old, new) = (random_key_hex(), random_key_hex());
    let cluster = cluster_with_key("rewrap", &format!("root-2025 {old}"), &[]);
    let mut c = cluster.with_extension();
    c.batch_execute(
        "SELECT privacy.create_key('customer_pii');
         SELECT privacy.rotate_key('customer_pii');
         SELECT privacy.create_key('customer:7');
         SELECT privacy.create_key('gone');
         SELECT privacy.destroy_key('gone');
         CREATE TABLE t (id int PRIMARY KEY, v privacy.encrypted_text);
         INSERT INTO t VALUES (1, privacy.encrypt('one', 'customer_pii', '1')),
                              (2, privacy.encrypt('two', 'customer:7', '2'));",
    )
    .unwrap();
    let before: Vec<String> = c
        .query("SELECT v::text FROM t ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    // Step 1: the new key first, the old one after it; restart; rewrap.
    let file =
        cluster.write_private_file("root.key", &format!("root-2026 {new}\nroot-2025 {old}\n"));
    assert!(file.exists());
    cluster.restart();
    let mut c = cluster.connect("postgres");
    let rewrapped: i32 = c
        .query_one("SELECT privacy.rewrap_keys()", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        rewrapped, 3,
        "every live data key version; the destroyed one has nothing to rewrap"
    );
    let roots: Vec<(String, i64)> = c
        .query(
            "SELECT root_key_id, count(*) FROM privacy.keys WHERE status <> 'destroyed' GROUP BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(roots, vec![("root-2026".to_string(), 3)]);
    assert_eq!(
        c.query_one("SELECT privacy.rewrap_keys()", &[])
            .unwrap()
            .get::<_, i32>(0),
        0
    );

    // Step 2: drop the old root key; data, never rewritten, still decrypts.
    cluster.write_private_file("root.key", &format!("root-2026 {new}\n"));
    cluster.restart();
    let mut c = cluster.connect("postgres");
    let after: Vec<String> = c
        .query("SELECT v::text FROM t ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(before, after, "no encrypted value was rewritten");
    let plain: Vec<String> = c
        .query(
            "SELECT privacy.decrypt(v, id::text) FROM t ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(plain, ["one", "two"]);

    // Without the rewrap, dropping the old root key would have locked the data: a key still
    // wrapped under a root key that is not loaded fails with 55000 and says which one.
    c.batch_execute("SELECT privacy.create_key('late')")
        .unwrap();
    cluster.write_private_file("root.key", &format!("root-2027 {}\n", random_key_hex()));
    cluster.restart();
    let mut c = cluster.connect("postgres");
    let err = c
        .query_one("SELECT privacy.encrypt('x', 'late')", &[])
        .unwrap_err();
    assert_eq!(sqlstate(&err), "55000");
    assert!(
        error_text(&err).contains("root-2026"),
        "{}",
        error_text(&err)
    );
}
