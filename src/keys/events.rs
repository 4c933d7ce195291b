//! The one place where key events are recorded. Each key function calls `record` after its
//! change; the access audit (privacy.audit_log) takes its events from here. Until the audit log
//! exists, events go to the server log at LOG level, which is where a DBA looks today.

use crate::elevated;
use pgrx::prelude::*;

/// Records a key event: `action` is one of KEY_CREATE, KEY_ROTATE, KEY_REVOKE, KEY_RESTORE,
/// KEY_DESTROY, KEY_REWRAP, GRANT_DECRYPT, REVOKE_DECRYPT. `detail` names the key (and the
/// grantee); never key material.
pub fn record(action: &str, detail: &str) {
    let who = elevated::role_name(elevated::caller());
    log!("pg_privacy: {action} {detail} by {who}");
}

/// Records an admin event of the SQL-written parts (masking rules, retention): `actor` is the
/// role that called the public function, captured before any SECURITY DEFINER switch.
#[pg_extern(volatile, parallel_unsafe, name = "_admin_event")]
fn admin_event(action: &str, detail: &str, actor: &str) {
    log!("pg_privacy: {action} {detail} by {actor}");
}
