//! `#[pg_test]`: runs inside a server with the library preloaded and a fixed test root key
//! (see `pg_test::postgresql_conf_options` in lib.rs).

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn status() -> serde_json::Value {
        Spi::get_one::<pgrx::JsonB>("SELECT privacy.status()")
            .unwrap()
            .unwrap()
            .0
    }

    #[pg_test]
    fn status_reports_a_preloaded_library_and_the_test_root_key() {
        let s = status();
        assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(s["preloaded"], true);
        assert_eq!(s["root_key"]["loaded"], true);
        assert_eq!(s["root_key"]["active_id"], "pgtest-root");
        assert_eq!(s["root_key"]["source"], "postmaster");
        assert!(s["root_key"]["error"].is_null());
        assert_eq!(s["root_key"]["fingerprint"].as_str().unwrap().len(), 16);
    }

    #[pg_test]
    fn status_never_contains_the_key_bytes() {
        let text = Spi::get_one::<String>("SELECT privacy.status()::text")
            .unwrap()
            .unwrap();
        assert!(
            !text.contains("6a1f0e3c"),
            "status leaked key bytes: {text}"
        );
    }

    #[pg_test]
    fn fingerprint_names_the_active_key_and_matches_status() {
        let fp = Spi::get_one::<String>("SELECT privacy.root_key_fingerprint()")
            .unwrap()
            .unwrap();
        let s = status();
        assert_eq!(
            fp,
            format!(
                "pgtest-root:{}",
                s["root_key"]["fingerprint"].as_str().unwrap()
            )
        );
    }

    #[pg_test]
    fn roles_exist_and_cannot_log_in() {
        let n = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('privacy_admin','privacy_auditor') AND NOT rolcanlogin",
        )
        .unwrap()
        .unwrap();
        assert_eq!(n, 2);
    }

    #[pg_test]
    fn every_setting_has_its_documented_default() {
        let expected = [
            ("privacy.app_user", ""),
            ("privacy.worker_naptime", "10s"),
            ("privacy.audit_queue_size", "65536"),
            ("privacy.audit_flush_interval", "200ms"),
            ("privacy.retention_batch_pause", "10ms"),
            ("privacy.audit_retention", "400d"),
            ("privacy.root_key_command_timeout", "30s"),
        ];
        for (name, want) in expected {
            let got = Spi::get_one::<String>(&format!("SELECT current_setting('{name}')"))
                .unwrap()
                .unwrap();
            assert_eq!(got, want, "{name}");
        }
    }

    #[pg_test]
    fn every_function_in_the_schema_is_commented() {
        let missing = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'privacy' AND obj_description(p.oid, 'pg_proc') IS NULL",
        )
        .unwrap()
        .unwrap();
        assert_eq!(missing, 0);
    }

    #[pg_test(error = "permission denied for function root_key_fingerprint")]
    fn fingerprint_is_refused_to_an_ordinary_role() {
        Spi::run("CREATE ROLE pgtest_agent NOLOGIN").unwrap();
        Spi::run("SET ROLE pgtest_agent").unwrap();
        Spi::run("SELECT privacy.root_key_fingerprint()").unwrap();
    }
}
