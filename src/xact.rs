//! Transaction facts the per-backend caches need.
//!
//! The caches (keyring, masking rules, redaction patterns) are filled by SPI reads and emptied
//! by relcache invalidations. In a REPEATABLE READ or SERIALIZABLE transaction those reads use
//! the transaction's snapshot, which can be older than an invalidation the backend has already
//! processed: what is loaded then may predate a committed change (a revoked key, a removed
//! unmask rule). Such a load is right for the transaction that made it, and must not outlive
//! it: each cache marks it with [`scope_of_load`] and drops it at the next transaction.

use pgrx::pg_sys;
use std::cell::{Cell, RefCell};

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

/// A per-backend cache of something loaded from one extension table (masking rules, redaction
/// patterns): kept until a relcache invalidation of that table arrives (sent by the table's
/// row triggers), or, when it was loaded under a transaction snapshot, until the transaction
/// ends. Lives in a `thread_local!`; the backend has one thread, so its address is stable.
pub struct TableCache<T: Clone> {
    value: RefCell<Option<T>>,
    stale: Cell<bool>,
    registered: Cell<bool>,
    watched: Cell<pg_sys::Oid>,
    load_scope: Cell<Option<u32>>,
}

extern "C-unwind" fn relcache_changed<T: Clone>(arg: pg_sys::Datum, relid: pg_sys::Oid) {
    // SAFETY: arg is the address of a TableCache in thread-local storage (see `get`), which
    // lives as long as the backend; only Cells are touched, so this cannot fail or unwind.
    let cache = unsafe { &*arg.cast_mut_ptr::<TableCache<T>>() };
    if relid == pg_sys::InvalidOid || relid == cache.watched.get() {
        cache.stale.set(true);
    }
}

impl<T: Clone> TableCache<T> {
    pub const fn new() -> Self {
        TableCache {
            value: RefCell::new(None),
            stale: Cell::new(true),
            registered: Cell::new(false),
            watched: Cell::new(pg_sys::InvalidOid),
            load_scope: Cell::new(None),
        }
    }

    /// The cached value, or a fresh one from `load`, which returns it with the oid of the
    /// table it read (the table whose invalidations make it stale).
    pub fn get(&self, load: impl FnOnce() -> (pg_sys::Oid, T)) -> T {
        if !self.registered.replace(true) {
            // SAFETY: registers a callback for the life of the backend with the address of
            // this thread-local cache, which outlives every invalidation the backend processes.
            unsafe {
                pg_sys::CacheRegisterRelcacheCallback(
                    Some(relcache_changed::<T>),
                    pg_sys::Datum::from(self as *const Self as *mut core::ffi::c_void),
                )
            };
        }
        if expired(self.load_scope.get()) {
            self.stale.set(true);
        }
        if !self.stale.replace(false) {
            if let Some(v) = self.value.borrow().clone() {
                return v;
            }
        }
        self.load_scope.set(scope_of_load());
        let (oid, value) = load();
        self.watched.set(oid);
        *self.value.borrow_mut() = Some(value.clone());
        value
    }
}
