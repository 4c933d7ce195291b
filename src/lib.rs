//! pg_privacy: keeps customer data private inside PostgreSQL.
//!
//! This file is an index: the module list, the module magic, and `_PG_init`, which hands each
//! module its start-up work. Pure logic lives in the `pg_privacy_core` crate.

use pgrx::prelude::*;

mod audit;
mod crypto;
mod elevated;
mod error;
mod gucs;
mod jobs;
mod keys;
mod masking;
mod retention;
mod status;
mod worker;
mod xact;

::pgrx::pg_module_magic!();

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!("../sql/keys.sql", name = "keys", requires = ["bootstrap"]);
extension_sql_file!(
    "../sql/encryption.sql",
    name = "encryption",
    requires = ["keys"]
);
extension_sql_file!(
    "../sql/reencrypt.sql",
    name = "reencrypt",
    requires = [
        "encryption",
        jobs::job_start,
        jobs::job_progress,
        jobs::job_finish
    ]
);
extension_sql_file!(
    "../sql/masking.sql",
    name = "masking",
    requires = ["encryption", masking::redaction::check_redaction_pattern]
);
extension_sql_file!(
    "../sql/masking_policies.sql",
    name = "masking_policies",
    requires = [
        "masking",
        "reencrypt",
        masking::policy::mask_expression,
        masking::policy::mask_tree,
        masking::policy::mask_tree_deparse,
        masking::policy::mask_choice,
        audit::admin_event_sql,
        audit::outer_user
    ]
);
extension_sql_file!(
    "../sql/retention.sql",
    name = "retention",
    requires = [
        "masking_policies",
        retention::exec_as_owner,
        masking::policy::filter_expression
    ]
);
extension_sql_file!(
    "../sql/audit.sql",
    name = "audit",
    requires = [
        "retention",
        audit::seal::audit_verify,
        audit::seal::audit_digest
    ]
);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    status::init();
    jobs::init();
    keys::init();
    worker::init();
    audit::init();
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`: the settings of its throwaway server.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "shared_preload_libraries = 'pg_privacy'",
            // A fixed key for tests only; real deployments read it from a KMS or a key file.
            "privacy.root_key_command = 'echo pgtest-root 6a1f0e3c9b2d4a5f8e7c6b5a49382716a5b4c3d2e1f00918273645546372819a'",
        ]
    }
}
