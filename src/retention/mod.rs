//! Retention: the SQL of policies, legal holds and runs is in sql/retention.sql; here is the one
//! piece that must be Rust: running a purge batch as the table's owner.
//!
//! The background worker runs as the bootstrap superuser. A DELETE or UPDATE fires the table's
//! triggers and the cascades of its foreign keys, which belong to the table's owner: run with a
//! superuser's rights they would let that owner run code as superuser. So each batch runs as
//! the owner, in a security-restricted operation (no SET ROLE back, no temporary objects), with
//! a pinned search_path — as PostgreSQL itself runs VACUUM and ANALYZE as a table's owner.

use crate::elevated;
use crate::error::{OrRaise, PrivacyError};
use pgrx::prelude::*;

/// Runs `sql` (built by sql/retention.sql from checked parts) as the owner of `tbl` and returns
/// the first column of its result rows as text (NULLs dropped). For privacy's own use.
#[pg_extern(volatile, parallel_unsafe, name = "_exec_as_owner")]
pub fn exec_as_owner(tbl: pg_sys::Oid, sql: &str) -> Vec<String> {
    let owner = Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT relowner FROM pg_catalog.pg_class WHERE oid = $1",
        &[tbl.into()],
    )
    .map_err(|e| PrivacyError::Internal {
        what: format!("could not look the table up: {e}"),
    })
    .or_raise()
    .ok_or_else(|| {
        PrivacyError::InvalidParameter(format!("relation {} does not exist", tbl.to_u32()))
    })
    .or_raise();
    elevated::run_as(owner, || {
        Spi::connect_mut(|client| {
            let rows = client.update(sql, None, &[])?;
            let mut out = Vec::new();
            for row in rows {
                if let Some(v) = row.get::<String>(1)? {
                    out.push(v);
                }
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
    })
    .map_err(|e| PrivacyError::Internal {
        what: format!("retention batch failed: {e}"),
    })
    .or_raise()
}
