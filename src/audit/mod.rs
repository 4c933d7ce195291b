//! The access audit: `privacy.audit_log` and everything that writes or checks it.
//!
//! - [`dml`]: the statement-level trigger of audited tables (one row per changed row).
//! - [`hook`]: the executor and utility hooks that note reads of audited columns, and the
//!   per-statement counters of decrypts and unmasked reads; they feed [`queue`].
//! - [`queue`]: the shared-memory queue the worker flushes ([`seal::flush`]).
//! - [`seal`]: row hashes, hash-chained seals, verification, the digest, audit retention.
//!
//! Admin events (keys, rules, retention) are written here, in the transaction that made the
//! change: a change that is rolled back did not happen.

pub mod dml;
pub mod hook;
pub mod queue;
pub mod seal;

use crate::elevated;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::ffi::CStr;

/// Who is acting, and from where: the columns every audit row carries.
pub struct Who {
    pub session_role: String,
    pub current_role: String,
    pub app_user: Option<String>,
    pub client_addr: Option<String>,
    pub application_name: Option<String>,
}

thread_local! {
    /// The client address of this session, which does not change (None: Unix socket).
    static CLIENT_ADDR: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

fn client_addr() -> Option<String> {
    CLIENT_ADDR.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(|| {
                // SAFETY: inet_client_addr reads MyProcPort (NULL for Unix sockets and
                // background workers) and inet_out formats the result.
                unsafe {
                    let addr = pgrx::direct_function_call_as_datum(pg_sys::inet_client_addr, &[])?;
                    let text =
                        pgrx::direct_function_call::<&CStr>(pg_sys::inet_out, &[Some(addr)])?;
                    Some(text.to_string_lossy().into_owned())
                }
            })
            .clone()
    })
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// The session and the role `current` (the role in effect, or the outer user for admin events).
pub fn who(current: pg_sys::Oid) -> Who {
    // SAFETY: backend globals: the session user and the application_name setting.
    let (session, app_name) = unsafe {
        let app = pg_sys::application_name;
        (
            pg_sys::GetSessionUserId(),
            (!app.is_null()).then(|| CStr::from_ptr(app).to_string_lossy().into_owned()),
        )
    };
    Who {
        session_role: elevated::role_name(session),
        current_role: elevated::role_name(current),
        app_user: non_empty(
            crate::gucs::APP_USER
                .get()
                .map(|s| s.to_string_lossy().into_owned()),
        ),
        client_addr: client_addr(),
        application_name: non_empty(app_name),
    }
}

/// The transaction's full id, assigning one (the caller writes anyway).
pub fn txid_assigned() -> i64 {
    // SAFETY: assigns the top transaction id if needed; called inside a transaction.
    unsafe { pg_sys::GetTopFullTransactionId() }.value as i64
}

/// The transaction's full id if it has one (a read-only transaction has none).
pub fn txid_if_any() -> Option<i64> {
    // SAFETY: reads the current transaction state.
    let v = unsafe { pg_sys::GetTopFullTransactionIdIfAny() }.value;
    (v != 0).then_some(v as i64)
}

/// Whether this database has the audit log (pg_privacy installed at a version with the audit).
pub fn log_exists() -> bool {
    // SAFETY: catalog lookups by name inside a transaction.
    unsafe {
        let nsp = pg_sys::get_namespace_oid(c"privacy".as_ptr(), true);
        nsp != pg_sys::InvalidOid
            && pg_sys::get_relname_relid(c"audit_log".as_ptr(), nsp) != pg_sys::InvalidOid
    }
}

/// Records an administrative event in the audit log, in the current transaction. The actor is
/// PostgreSQL's outer user (the session's role after SET ROLE, outside any SECURITY DEFINER
/// function). Without the audit log (during an upgrade) the event goes to the server log.
pub fn admin_event(action: &str, object: Option<&str>, detail: &str) {
    admin_event_with(action, object, serde_json::json!({ "event": detail }), None);
}

/// [`admin_event`] with a detail object and a row count.
pub fn admin_event_with(
    action: &str,
    object: Option<&str>,
    detail: serde_json::Value,
    rows: Option<i64>,
) {
    // SAFETY: reads a backend global set by SET ROLE and at connection start.
    let actor = unsafe { pg_sys::GetOuterUserId() };
    let w = who(actor);
    if !log_exists() {
        log!("pg_privacy: {action} {detail} by {}", w.current_role);
        return;
    }
    let txid = txid_assigned();
    let detail = detail.to_string();
    elevated::run(|| {
        Spi::run_with_args(
            "INSERT INTO privacy.audit_log (txid, session_role, \"current_role\", app_user, \
             client_addr, application_name, action, object, detail, rows) \
             VALUES ($1, $2, $3, $4, $5::inet, $6, $7, $8, $9::jsonb, $10)",
            &[
                txid.into(),
                w.session_role.as_str().into(),
                w.current_role.as_str().into(),
                w.app_user.as_deref().into(),
                w.client_addr.as_deref().into(),
                w.application_name.as_deref().into(),
                action.into(),
                object.into(),
                detail.as_str().into(),
                rows.into(),
            ],
        )
    })
    .unwrap_or_else(|e| pgrx::error!("pg_privacy: could not record the {action} event: {e}"));
}

/// SQL's door to [`admin_event`] for the SQL-written parts (masking rules, retention, holds,
/// audit settings).
#[pg_extern(volatile, parallel_unsafe, name = "_admin_event")]
fn admin_event_sql(action: &str, detail: &str) {
    admin_event(action, None, detail);
}

/// The role outside any SECURITY DEFINER function: who is really calling.
#[pg_extern(stable, parallel_safe, name = "_outer_user")]
fn outer_user() -> String {
    // SAFETY: reads a backend global set by SET ROLE and at connection start.
    elevated::role_name(unsafe { pg_sys::GetOuterUserId() })
}

/// The hooks and the queue, in the postmaster while preload libraries load.
pub fn init() {
    if !crate::status::preloaded() {
        return;
    }
    queue::init();
    hook::init();
}
