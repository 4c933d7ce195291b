//! Transaction facts the per-backend caches need.
//!
//! The caches (keyring, masking rules, redaction patterns) are filled by SPI reads and emptied
//! by relcache invalidations. In a REPEATABLE READ or SERIALIZABLE transaction those reads use
//! the transaction's snapshot, which can be older than an invalidation the backend has already
//! processed: what is loaded then may predate a committed change (a revoked key, a removed
//! unmask rule). Such a load is right for the transaction that made it, and must not outlive
//! it: each cache marks it with [`scope_of_load`] and drops it at the next transaction.

use pgrx::pg_sys;

/// The backend's local transaction number: changes with every transaction.
pub fn current_lxid() -> u32 {
    // SAFETY: MyProc is set for every backend that runs SQL.
    unsafe { (*pg_sys::MyProc).lxid }
}

/// `Some(this transaction)` when reads now may be older than the latest commit (the snapshot is
/// the transaction's, not the statement's); `None` when a load may be kept across transactions.
pub fn scope_of_load() -> Option<u32> {
    // SAFETY: reads a backend global (IsolationUsesXactSnapshot in C).
    let xact_snapshot = unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32;
    xact_snapshot.then(current_lxid)
}

/// Whether a load marked with `scope` (from [`scope_of_load`]) is no longer valid.
pub fn expired(scope: Option<u32>) -> bool {
    scope.is_some_and(|lxid| lxid != current_lxid())
}
