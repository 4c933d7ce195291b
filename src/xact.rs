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

/// When a per-backend cache filled from extension tables must be reloaded: after a relcache
/// invalidation of one of the watched tables (sent by their row triggers), and, when what it
/// holds was loaded under a transaction snapshot, at the next transaction. Lives in a
/// `thread_local!`; the backend has one thread, so its address is stable.
pub struct Watch {
    stale: Cell<bool>,
    registered: Cell<bool>,
    watched: Cell<[pg_sys::Oid; 2]>,
    load_scope: Cell<Option<u32>>,
}

extern "C-unwind" fn relcache_changed(arg: pg_sys::Datum, relid: pg_sys::Oid) {
    // SAFETY: arg is the address of a Watch in thread-local storage (see `needs_reload`), which
    // lives as long as the backend; only Cells are touched, so this cannot fail or unwind.
    let watch = unsafe { &*arg.cast_mut_ptr::<Watch>() };
    if relid == pg_sys::InvalidOid || watch.watched.get().contains(&relid) {
        watch.stale.set(true);
    }
}

impl Watch {
    pub const fn new() -> Self {
        Watch {
            stale: Cell::new(true),
            registered: Cell::new(false),
            watched: Cell::new([pg_sys::InvalidOid; 2]),
            load_scope: Cell::new(None),
        }
    }

    /// True once after the cache became stale: the caller empties and reloads it (and says
    /// again which tables to watch).
    pub fn needs_reload(&self) -> bool {
        if !self.registered.replace(true) {
            // SAFETY: registers a callback for the life of the backend with the address of
            // this thread-local watch, which outlives every invalidation the backend processes.
            unsafe {
                pg_sys::CacheRegisterRelcacheCallback(
                    Some(relcache_changed),
                    pg_sys::Datum::from(self as *const Self as *mut core::ffi::c_void),
                )
            };
        }
        if expired(self.load_scope.get()) {
            self.stale.set(true);
        }
        let reload = self.stale.replace(false);
        if reload {
            self.load_scope.set(None);
        }
        reload
    }

    /// The tables whose changes make the cache stale.
    pub fn watch(&self, tables: [pg_sys::Oid; 2]) {
        self.watched.set(tables);
    }

    /// Called before each read that fills the cache: a read under a transaction snapshot makes
    /// the cache last only as long as the transaction.
    pub fn note_load(&self) {
        if let Some(scope) = scope_of_load() {
            self.load_scope.set(Some(scope));
        }
    }
}

/// A per-backend cache of something loaded from one extension table (masking rules, redaction
/// patterns), kept as long as its [`Watch`] allows.
pub struct TableCache<T: Clone> {
    value: RefCell<Option<T>>,
    watch: Watch,
}

impl<T: Clone> TableCache<T> {
    pub const fn new() -> Self {
        TableCache {
            value: RefCell::new(None),
            watch: Watch::new(),
        }
    }

    /// The cached value, or a fresh one from `load`, which returns it with the oid of the
    /// table it read (the table whose invalidations make it stale).
    pub fn get(&self, load: impl FnOnce() -> (pg_sys::Oid, T)) -> T {
        if !self.watch.needs_reload() {
            if let Some(v) = self.value.borrow().clone() {
                return v;
            }
        }
        self.watch.note_load();
        let (oid, value) = load();
        self.watch.watch([oid, pg_sys::InvalidOid]);
        *self.value.borrow_mut() = Some(value.clone());
        value
    }
}
