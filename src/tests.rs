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
    fn audit_rows_get_their_hash_and_verify_recomputes_it() {
        Spi::run("CREATE TABLE t_audit (id int PRIMARY KEY, email text, note text)").unwrap();
        Spi::run("SELECT privacy.mask_column('t_audit', 'email', 'privacy.mask_email(email)')")
            .unwrap();
        Spi::run("SELECT privacy.audit_table('t_audit')").unwrap();
        Spi::run(
            "INSERT INTO t_audit VALUES (1, 'ann@example.com', 'x'), (2, 'bo@example.com', 'y')",
        )
        .unwrap();
        Spi::run("UPDATE t_audit SET note = 'z'").unwrap();
        let (rows, masked) = Spi::get_two::<i64, i64>(
            "SELECT count(*), count(*) FILTER (WHERE new_values->>'email' LIKE '_*%@example.com') \
               FROM privacy.audit_log WHERE object = 'public.t_audit'",
        )
        .unwrap();
        assert_eq!(rows, Some(4));
        assert_eq!(masked, Some(4));
        let hashes = Spi::get_one::<i64>(
            "SELECT count(*) FROM privacy.audit_log WHERE length(row_hash) = 32",
        )
        .unwrap();
        let all = Spi::get_one::<i64>("SELECT count(*) FROM privacy.audit_log").unwrap();
        assert_eq!(hashes, all);
        let (ok, bad) =
            Spi::get_two::<bool, i64>("SELECT ok, first_bad_id FROM privacy.audit_verify()")
                .unwrap();
        assert_eq!(ok, Some(true));
        assert_eq!(bad, None);
    }

    #[pg_test(error = "privacy.audit_log is append-only")]
    fn the_audit_log_refuses_updates() {
        Spi::run("UPDATE privacy.audit_log SET app_user = 'someone else'").unwrap();
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
            ("privacy.key_cache_size", "10000"),
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

    #[pg_test]
    fn encrypt_decrypt_round_trip_with_context_and_key_of() {
        Spi::run("SELECT privacy.create_key('pgtest')").unwrap();
        let back = Spi::get_one::<String>(
            "SELECT privacy.decrypt(privacy.encrypt('4111 1111 1111 1111', 'pgtest', '42'), '42')",
        )
        .unwrap();
        assert_eq!(back.as_deref(), Some("4111 1111 1111 1111"));
        let key = Spi::get_one::<String>("SELECT privacy.key_of(privacy.encrypt('x', 'pgtest'))")
            .unwrap();
        assert_eq!(key.as_deref(), Some("pgtest:1"));
        let null =
            Spi::get_one::<String>("SELECT privacy.decrypt(privacy.encrypt(NULL::text, 'pgtest'))")
                .unwrap();
        assert_eq!(null, None);
    }

    #[pg_test(
        error = "decryption failed: the value was altered, or the context does not match the one it was encrypted with"
    )]
    fn a_wrong_context_does_not_decrypt() {
        Spi::run("SELECT privacy.create_key('pgtest_ctx')").unwrap();
        Spi::run("SELECT privacy.decrypt(privacy.encrypt('secret', 'pgtest_ctx', '1'), '2')")
            .unwrap();
    }

    #[pg_test]
    fn the_key_cache_reports_its_entries() {
        Spi::run("SELECT privacy.create_key('pgtest_cache')").unwrap();
        Spi::run("SELECT privacy.encrypt('x', 'pgtest_cache')").unwrap();
        let s = status();
        assert!(s["key_cache"]["entries"].as_u64().unwrap() >= 1);
        assert_eq!(s["key_cache"]["capacity"], 10000);
    }

    #[pg_test]
    fn masks_and_redaction_from_sql() {
        let masked =
            Spi::get_one::<String>("SELECT privacy.mask_email('alice@example.com')").unwrap();
        assert_eq!(masked.as_deref(), Some("a****@example.com"));
        let redacted =
            Spi::get_one::<String>("SELECT privacy.redact('電話 ０９０－１２３４－５６７８ です')")
                .unwrap();
        assert_eq!(redacted.as_deref(), Some("電話 [PHONE] です"));
    }

    #[pg_test]
    fn a_masked_view_decides_per_role_and_follows_rule_changes() {
        Spi::run(
            "CREATE TABLE public.pgtest_people (id int PRIMARY KEY, email text);
             INSERT INTO public.pgtest_people VALUES (1, 'alice@example.com');
             CREATE ROLE pgtest_agent; CREATE ROLE pgtest_lead;
             SELECT privacy.mask_column('public.pgtest_people', 'email', 'privacy.mask_email(email)');
             GRANT SELECT ON masked.pgtest_people TO pgtest_agent, pgtest_lead;",
        )
        .unwrap();
        let read = |role: &str| {
            Spi::run(&format!("SET ROLE {role}")).unwrap();
            let v = Spi::get_one::<String>("SELECT email FROM masked.pgtest_people").unwrap();
            Spi::run("RESET ROLE").unwrap();
            v
        };
        assert_eq!(read("pgtest_agent").as_deref(), Some("a****@example.com"));
        // Rule changes in the same transaction are seen by the next statement.
        Spi::run("SELECT privacy.unmask_column('public.pgtest_people', 'email', 'pgtest_lead')")
            .unwrap();
        assert_eq!(read("pgtest_lead").as_deref(), Some("alice@example.com"));
        assert_eq!(read("pgtest_agent").as_deref(), Some("a****@example.com"));
        Spi::run("SELECT privacy.drop_mask('public.pgtest_people', 'email')").unwrap();
        let view = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'masked'::regnamespace AND relname = 'pgtest_people'",
        )
        .unwrap();
        assert_eq!(view, Some(0));
    }
}
