//! Every setting of API.md, with its default and context, as a DBA sees them.

use pg_privacy_integration::{sqlstate, Cluster};

#[test]
fn every_setting_has_its_documented_default_and_context() {
    let cluster = Cluster::builder("settings").start();
    let mut c = cluster.with_extension();
    let rows = c
        .query(
            "SELECT name, current_setting(name), context FROM pg_settings \
             WHERE name LIKE 'privacy.%' ORDER BY name",
            &[],
        )
        .unwrap();
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want = [
        ("privacy.app_user", "", "user"),
        ("privacy.audit_flush_interval", "200ms", "sighup"),
        ("privacy.audit_queue_size", "65536", "postmaster"),
        ("privacy.audit_retention", "400d", "sighup"),
        ("privacy.key_cache_size", "10000", "user"),
        ("privacy.retention_batch_pause", "10ms", "sighup"),
        ("privacy.root_key_command", "", "postmaster"),
        ("privacy.root_key_command_timeout", "30s", "postmaster"),
        ("privacy.worker_naptime", "10s", "sighup"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn sighup_settings_change_on_reload_and_app_user_is_per_session() {
    let cluster = Cluster::builder("reload").start();
    let mut c = cluster.with_extension();
    cluster.append_conf("privacy.worker_naptime = '3s'\nprivacy.audit_retention = '30d'");
    cluster.reload();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut fresh = cluster.connect("postgres");
    let naptime: String = fresh
        .query_one("SHOW privacy.worker_naptime", &[])
        .unwrap()
        .get(0);
    let retention: String = fresh
        .query_one("SHOW privacy.audit_retention", &[])
        .unwrap()
        .get(0);
    assert_eq!((naptime.as_str(), retention.as_str()), ("3s", "30d"));

    c.batch_execute("CREATE ROLE agent LOGIN").unwrap();
    let mut agent = cluster.connect("agent");
    agent
        .batch_execute("SET privacy.app_user = 'agent-0042'")
        .unwrap();
    let who: String = agent
        .query_one("SHOW privacy.app_user", &[])
        .unwrap()
        .get(0);
    assert_eq!(who, "agent-0042");
    let other: String = fresh
        .query_one("SHOW privacy.app_user", &[])
        .unwrap()
        .get(0);
    assert_eq!(other, "", "app_user is per session");
    let err = agent
        .batch_execute("SET privacy.worker_naptime = '1s'")
        .unwrap_err();
    assert_eq!(sqlstate(&err), "55P02");
}

#[test]
fn bad_values_are_refused_with_22023() {
    let cluster = Cluster::builder("badvalues").start();
    let mut c = cluster.with_extension();
    for stmt in [
        "ALTER SYSTEM SET privacy.worker_naptime = '0'",
        "ALTER SYSTEM SET privacy.audit_flush_interval = '1ms'",
        "ALTER SYSTEM SET privacy.audit_queue_size = 10",
        "ALTER SYSTEM SET privacy.retention_batch_pause = '-1'",
    ] {
        let err = c.batch_execute(stmt).unwrap_err();
        assert_eq!(sqlstate(&err), "22023", "{stmt}");
    }
}

#[test]
fn install_creates_nologin_roles_and_comments_everything() {
    let cluster = Cluster::builder("install").start();
    let mut c = cluster.with_extension();
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('privacy_admin','privacy_auditor') \
             AND NOT rolcanlogin AND shobj_description(oid, 'pg_authid') IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    // A second database reuses the roles instead of failing on them.
    c.batch_execute("CREATE DATABASE second").unwrap();
    let mut second = cluster.connect_db("second", "postgres");
    second.batch_execute("CREATE EXTENSION pg_privacy").unwrap();
    second
        .batch_execute("DROP EXTENSION pg_privacy; CREATE EXTENSION pg_privacy")
        .unwrap();
    let uncommented: i64 = second
        .query_one(
            "SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid \
             WHERE e.extname = 'pg_privacy' AND d.deptype = 'e' \
             AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(uncommented, 0, "every extension object has a COMMENT");
}
