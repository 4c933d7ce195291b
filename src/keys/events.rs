//! The one place where key events are recorded. Each key function calls `record` after its
//! change; the event becomes a row of `privacy.audit_log` in the same transaction (a key change
//! that is rolled back did not happen).

/// Records a key event: `action` is one of KEY_CREATE, KEY_ROTATE, KEY_REVOKE, KEY_RESTORE,
/// KEY_DESTROY, KEY_REWRAP, GRANT_DECRYPT, REVOKE_DECRYPT. The object is `key <name>` (as in
/// DECRYPT events); `detail` says what changed, never key material.
pub fn record(action: &str, key_name: Option<&str>, detail: &str) {
    let object = key_name.map(|k| format!("key {k}"));
    crate::audit::admin_event(action, object.as_deref(), detail);
}
