//! The one place where key events are recorded. Each key function calls `record` after its
//! change; the access audit (privacy.audit_log) takes its events from here. Until the audit log
//! exists, events go to the server log at LOG level, which is where a DBA looks today.

use crate::elevated;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Records a key event: `action` is one of KEY_CREATE, KEY_ROTATE, KEY_REVOKE, KEY_RESTORE,
/// KEY_DESTROY, KEY_REWRAP, GRANT_DECRYPT, REVOKE_DECRYPT. `detail` names the key (and the
/// grantee); never key material.
pub fn record(action: &str, detail: &str) {
    let who = elevated::role_name(elevated::caller());
    log!("pg_privacy: {action} {detail} by {who}");
}

/// Records an admin event of the SQL-written parts (masking rules, retention, holds). The actor
/// is the role outside any SECURITY DEFINER function (PostgreSQL's outer user: the session's
/// role after SET ROLE), so a caller cannot name someone else.
#[pg_extern(volatile, parallel_unsafe, name = "_admin_event")]
fn admin_event(action: &str, detail: &str) {
    let actor = outer_user();
    log!("pg_privacy: {action} {detail} by {actor}");
}

/// The role outside any SECURITY DEFINER function: who is really calling.
#[pg_extern(stable, parallel_safe, name = "_outer_user")]
fn outer_user() -> String {
    // SAFETY: reads a backend global set by SET ROLE and at connection start.
    elevated::role_name(unsafe { pg_sys::GetOuterUserId() })
}
