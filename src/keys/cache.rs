//! Per-backend cache of data keys: unwrapped once, with their AES key schedule prepared, so a
//! scan that decrypts a million values makes one keyring lookup per key, not per row.
//!
//! Invalidation: a statement trigger on `privacy.keyring` and `privacy.decrypt_grants` sends a
//! relcache invalidation for the table; every backend's callback then marks its cache stale
//! (the callback only sets a flag: it may run while a lookup is in progress). Decrypt grants
//! are also cached per transaction only, so a revoked grant takes effect at the next
//! transaction at the latest. The cache is bounded (`privacy.key_cache_size`); evicted and
//! invalidated keys are dropped, which zeroes their key schedule.

use crate::elevated;
use crate::error::PrivacyError;
use crate::gucs;
use crate::keys::keyring::index_key_label;
use crate::keys::root;
use crate::xact;
use pg_privacy_core::blind::BlindIndexKey;
use pg_privacy_core::cipher::DataKey;
use pg_privacy_core::mask::PseudonymKey;
use pg_privacy_core::wrap::unwrap_dek;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Retired,
    Revoked,
    Destroyed,
}

impl Status {
    fn parse(s: &str) -> Status {
        match s {
            "active" => Status::Active,
            "retired" => Status::Retired,
            "revoked" => Status::Revoked,
            _ => Status::Destroyed,
        }
    }
}

/// One keyring row as this backend knows it. `key` is present only for usable keys.
pub struct CachedKey {
    pub id: u32,
    pub name: Rc<str>,
    pub version: i32,
    pub status: Status,
    pub key: Option<DataKey>,
    pub blind: Option<BlindIndexKey>,
    /// Pseudonym subkey, derived from the name's index key under a label of its own.
    pseudonym: Option<PseudonymKey>,
    /// Why a live key could not be unwrapped (no root key, say); such entries are not cached.
    unwrap_error: Option<PrivacyError>,
    last_used: Cell<u64>,
}

impl CachedKey {
    /// `name:version`, as `key_of()` and messages show it.
    pub fn label(&self) -> String {
        format!("{}:{}", self.name, self.version)
    }

    /// The usable key, or why there is none.
    pub fn usable(&self) -> Result<&DataKey, PrivacyError> {
        match (&self.key, self.status) {
            (Some(k), Status::Active | Status::Retired) => Ok(k),
            (_, Status::Revoked) => Err(PrivacyError::KeyRevoked { key: self.label() }),
            (_, Status::Destroyed) => Err(PrivacyError::KeyDestroyed { key: self.label() }),
            (None, _) => Err(self.unwrap_failure()),
        }
    }

    /// The pseudonym key of a usable key.
    pub fn pseudonym_key(&self) -> Result<&PseudonymKey, PrivacyError> {
        self.usable()?;
        self.pseudonym.as_ref().ok_or_else(|| self.unwrap_failure())
    }

    /// The blind-index subkey of a usable key.
    pub fn blind_key(&self) -> Result<&BlindIndexKey, PrivacyError> {
        self.usable()?;
        self.blind.as_ref().ok_or_else(|| self.unwrap_failure())
    }

    fn unwrap_failure(&self) -> PrivacyError {
        self.unwrap_error
            .clone()
            .unwrap_or_else(|| PrivacyError::KeyCorrupt { key: self.label() })
    }
}

#[derive(Default)]
struct Cache {
    by_id: HashMap<u32, Rc<CachedKey>>,
    active_by_name: HashMap<Rc<str>, u32>,
    /// Decrypt permission per key id, for (role, local transaction).
    grants: HashMap<u32, bool>,
    grants_for: (pg_sys::Oid, u32),
    tick: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    /// When the cache must be emptied: keyring or grants changed (see crate::xact).
    static WATCH: xact::Watch = const { xact::Watch::new() };
    /// The key used last: a scan over one key's values skips the map lookups.
    static LAST_KEY: RefCell<Option<Rc<CachedKey>>> = const { RefCell::new(None) };
    /// The last permission answer: (key id, role, local transaction, allowed).
    static LAST_GRANT: Cell<Option<(u32, pg_sys::Oid, u32, bool)>> = const { Cell::new(None) };
}

fn ensure_fresh() {
    if WATCH.with(|w| w.needs_reload()) {
        CACHE.with(|c| *c.borrow_mut() = Cache::default());
        LAST_KEY.with(|k| *k.borrow_mut() = None);
        LAST_GRANT.with(|g| g.set(None));
        let oids = elevated::run(|| {
            Spi::get_two::<pg_sys::Oid, pg_sys::Oid>(
                "SELECT 'privacy.keyring'::regclass::oid, 'privacy.decrypt_grants'::regclass::oid",
            )
        });
        if let Ok((Some(k), Some(g))) = oids {
            WATCH.with(|w| w.watch([k, g]));
        }
    }
}

fn current_lxid() -> u32 {
    xact::current_lxid()
}

/// Called before each SPI read of the keyring that fills the cache.
fn note_load() {
    WATCH.with(|w| w.note_load());
}

/// Looks a data key up by its keyring id, unwrapping it on first use.
pub fn by_id(id: u32) -> Result<Rc<CachedKey>, PrivacyError> {
    ensure_fresh();
    if let Some(last) = LAST_KEY.with(|k| k.borrow().as_ref().filter(|k| k.id == id).cloned()) {
        return Ok(last);
    }
    let key = lookup(id)?;
    LAST_KEY.with(|k| *k.borrow_mut() = Some(key.clone()));
    Ok(key)
}

fn lookup(id: u32) -> Result<Rc<CachedKey>, PrivacyError> {
    if let Some(hit) = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.tick += 1;
        let tick = c.tick;
        c.by_id.get(&id).inspect(|k| k.last_used.set(tick)).cloned()
    }) {
        return Ok(hit);
    }
    let loaded = Rc::new(load(id)?);
    if loaded.unwrap_error.is_some() {
        // Not cached: a root key loaded later (lazy retry) must be able to fix it.
        return Ok(loaded);
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        evict_if_full(&mut c);
        loaded.last_used.set(c.tick);
        c.by_id.insert(id, loaded.clone());
    });
    Ok(loaded)
}

/// The active version of a key name (the one `encrypt` uses).
pub fn active(name: &str) -> Result<Rc<CachedKey>, PrivacyError> {
    ensure_fresh();
    if let Some(id) = CACHE.with(|c| c.borrow().active_by_name.get(name).copied()) {
        return by_id(id);
    }
    let id = lookup_id(
        "SELECT (SELECT id FROM privacy.keyring WHERE name = $1 AND status = 'active'), \
                (SELECT count(*) FROM privacy.keyring WHERE name = $1)",
        name,
    )?;
    let key = by_id(id)?;
    CACHE.with(|c| c.borrow_mut().active_by_name.insert(key.name.clone(), id));
    Ok(key)
}

fn lookup_id(query: &str, name: &str) -> Result<u32, PrivacyError> {
    note_load();
    let row = elevated::run(|| Spi::get_two_with_args::<i32, i64>(query, &[name.into()]));
    match row {
        Ok((Some(id), _)) => Ok(id as u32),
        Ok((None, Some(n))) if n > 0 => Err(PrivacyError::NoActiveVersion {
            name: name.to_string(),
        }),
        Ok(_) => Err(PrivacyError::UnknownKey {
            name: name.to_string(),
        }),
        Err(e) => Err(PrivacyError::Internal {
            what: format!("keyring lookup failed: {e}"),
        }),
    }
}

fn load(id: u32) -> Result<CachedKey, PrivacyError> {
    type Row = (
        Option<String>,
        Option<i32>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<String>,
    );
    note_load();
    let row: Result<Row, _> = elevated::run(|| {
        Spi::connect(|client| {
            let table = client.select(
                "SELECT name, version, status, wrapped_key, wrapped_index_key, root_key_id \
                 FROM privacy.keyring WHERE id = $1",
                Some(1),
                &[(id as i32).into()],
            )?;
            if table.is_empty() {
                return Ok((None, None, None, None, None, None));
            }
            let t = table.first();
            Ok::<Row, pgrx::spi::Error>((
                t.get(1)?,
                t.get(2)?,
                t.get(3)?,
                t.get(4)?,
                t.get(5)?,
                t.get(6)?,
            ))
        })
    });
    let (Some(name), Some(version), Some(status), wrapped, wrapped_index, Some(root_id)) = row
        .map_err(|e| PrivacyError::Internal {
            what: format!("keyring lookup failed: {e}"),
        })?
    else {
        return Err(PrivacyError::UnknownKeyId { id });
    };
    let status = Status::parse(&status);
    let mut entry = CachedKey {
        id,
        name: Rc::from(name.as_str()),
        version,
        status,
        key: None,
        blind: None,
        pseudonym: None,
        unwrap_error: None,
        last_used: Cell::new(0),
    };
    if let (Status::Active | Status::Retired, Some(wrapped), Some(wrapped_index)) =
        (status, wrapped, wrapped_index)
    {
        // A key that cannot be unwrapped still has a name and version (key_of needs no key):
        // the failure is kept and raised by whoever needs the key itself.
        let unwrapped = root::keyring().and_then(|ring| {
            let root_key = ring
                .get(&root_id)
                .ok_or_else(|| PrivacyError::RootKeyMissing {
                    root_id: root_id.clone(),
                    key: entry.label(),
                })?;
            let corrupt = |_| PrivacyError::KeyCorrupt { key: entry.label() };
            let dek = unwrap_dek(root_key, id, &name, version as u32, &wrapped).map_err(corrupt)?;
            let index_key = unwrap_dek(
                root_key,
                id,
                &index_key_label(&name),
                version as u32,
                &wrapped_index,
            )
            .map_err(corrupt)?;
            Ok((dek, index_key))
        });
        match unwrapped {
            Ok((dek, index_key)) => {
                entry.key = Some(DataKey::from_bytes(id, &dek));
                entry.blind = Some(BlindIndexKey::new(&index_key));
                entry.pseudonym = Some(PseudonymKey::new(&index_key));
            }
            Err(e) => entry.unwrap_error = Some(e),
        }
    }
    Ok(entry)
}

fn evict_if_full(c: &mut Cache) {
    let cap = gucs::KEY_CACHE_SIZE.get().max(1) as usize;
    if c.by_id.len() < cap {
        return;
    }
    // Drop the least recently used tenth at once, so a scan over many per-subject keys pays the
    // sort rarely. Dropping a DataKey zeroes its key schedule.
    let mut ages: Vec<(u64, u32)> = c
        .by_id
        .values()
        .map(|k| (k.last_used.get(), k.id))
        .collect();
    ages.sort_unstable();
    let n = (cap / 10).max(1).min(ages.len());
    for (_, id) in &ages[..n] {
        c.by_id.remove(id);
    }
    c.active_by_name.retain(|_, id| c.by_id.contains_key(id));
    c.grants.retain(|id, _| c.by_id.contains_key(id));
}

/// Whether the current role may decrypt with this key: superuser, or a decrypt grant on the key
/// name to the role or one whose privileges it has. Cached per transaction and role.
pub fn may_decrypt(key: &CachedKey) -> bool {
    let user = elevated::caller();
    let lxid = current_lxid();
    if let Some((id, u, x, allowed)) = LAST_GRANT.with(|g| g.get()) {
        if (id, u, x) == (key.id, user, lxid) {
            return allowed;
        }
    }
    let allowed = may_decrypt_lookup(key, user, lxid);
    LAST_GRANT.with(|g| g.set(Some((key.id, user, lxid, allowed))));
    allowed
}

fn may_decrypt_lookup(key: &CachedKey, user: pg_sys::Oid, lxid: u32) -> bool {
    let scope = (user, lxid);
    if let Some(allowed) = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.grants_for != scope {
            c.grants.clear();
            c.grants_for = scope;
        }
        c.grants.get(&key.id).copied()
    }) {
        return allowed;
    }
    let allowed = elevated::is_superuser(user) || {
        let grantees: Vec<pg_sys::Oid> = elevated::run(|| {
            Spi::connect(|client| {
                client
                    .select(
                        "SELECT g.grantee::oid FROM privacy.decrypt_grants g \
                         JOIN pg_roles r ON r.oid = g.grantee AND r.rolname = g.grantee_name \
                         WHERE g.key_name = $1",
                        None,
                        &[(&*key.name).into()],
                    )
                    .map(|t| {
                        t.filter_map(|row| row.get::<pg_sys::Oid>(1).ok().flatten())
                            .collect()
                    })
            })
        })
        .unwrap_or_default();
        grantees
            .into_iter()
            .any(|g| elevated::has_privs_of_role(user, g))
    };
    CACHE.with(|c| c.borrow_mut().grants.insert(key.id, allowed));
    allowed
}

/// For `status()`: entries held, the bound, and an estimate of their memory.
pub fn stats() -> (usize, usize, usize) {
    let entries = CACHE.with(|c| c.borrow().by_id.len());
    // The entry holds the prepared key inline; add the Rc box, the name and the map slot.
    let per_entry = std::mem::size_of::<CachedKey>() + 2 * std::mem::size_of::<usize>() + 32 + 48;
    (
        entries,
        gucs::KEY_CACHE_SIZE.get() as usize,
        entries * per_entry,
    )
}

/// Fired by the keyring and grants triggers (row-level, and on TRUNCATE) so every backend drops
/// what it cached.
#[pg_trigger(sql = false)]
fn keyring_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
    // SAFETY: invalidating the relcache entry of the table the trigger fired on.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relation()?.oid()) };
    Ok(None)
}
