//! The read-audit queue: a bounded ring of fixed-size entries in shared memory.
//!
//! Reads, decrypts and unmasked reads are not transactional (a read that is rolled back still
//! happened), so backends do not write them to `privacy.audit_log` themselves: they put them
//! here, and each database's worker moves its database's entries into the log in transactions
//! of its own, marking them done only after its commit.
//!
//! Nothing is dropped silently. A backend that finds the queue full wakes the worker and waits
//! for room (counted in `waits`); only when no worker serves its database for
//! [`NO_FLUSHER_GRACE`], or when the waiting statement is cancelled, is the event lost, and then
//! it is counted in `dropped` (shown by `privacy.status()`) with a WARNING. A crash of any
//! backend makes the postmaster reinitialise shared memory: entries not yet flushed (at most
//! about one `privacy.audit_flush_interval` of reads) are lost then; docs/audit.md says so.
//!
//! Positions grow for ever (u64); the slot of position p is p % capacity. Entries of one database
//! are flushed in position order; `head` advances over flushed slots, so one database's backlog
//! can hold up another's room, never its order.

use crate::{gucs, status, worker};
use pg_privacy_core::audit::{pack_fields, unpack_fields};
use pgrx::pg_sys;
use std::ffi::CStr;
use std::time::{Duration, Instant};

/// Bytes of one entry.
const ENTRY_SIZE: usize = 512;
const ENTRY_HEADER: usize = 56;
const PAYLOAD: usize = ENTRY_SIZE - ENTRY_HEADER;
/// Text fields of an entry, in order.
pub const FIELDS: usize = 8;
/// How long a backend with a full queue waits for a worker that is not there before it gives
/// the event up (counted).
const NO_FLUSHER_GRACE: Duration = Duration::from_secs(30);
/// How long a backend waits for room before it gives up the entries of databases that no
/// worker serves.
const ORPHAN_GRACE: Duration = Duration::from_secs(5);

const EMPTY: u8 = 0;
const READY: u8 = 2;
const TAKEN: u8 = 3;

/// Read-event actions.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Action {
    Select = 1,
    Decrypt = 2,
    DecryptDenied = 3,
    Unmask = 4,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Select => "SELECT",
            Action::Decrypt => "DECRYPT",
            Action::DecryptDenied => "DECRYPT_DENIED",
            Action::Unmask => "UNMASK",
        }
    }

    fn from_u8(v: u8) -> Option<Action> {
        Some(match v {
            1 => Action::Select,
            2 => Action::Decrypt,
            3 => Action::DecryptDenied,
            4 => Action::Unmask,
            _ => return None,
        })
    }
}

/// A read event, before it enters the queue and after it leaves it. Text fields are in the
/// order of [`FIELDS`]: session_role, current_role, app_user, client_addr, application_name,
/// object, columns (packed names), detail (JSON text).
pub struct Event {
    pub action: Action,
    pub logged_at: i64,
    pub txid: Option<i64>,
    pub rows: Option<i64>,
    pub fields: [Vec<u8>; FIELDS],
    pub truncated: bool,
}

#[repr(C)]
struct Entry {
    state: u8,
    action: u8,
    truncated: u8,
    has_txid: u8,
    database: u32,
    /// The worker that took it for a flush.
    taker: i32,
    has_rows: u8,
    _pad: [u8; 3],
    position: u64,
    logged_at: i64,
    txid: i64,
    rows: i64,
    len: u32,
    _pad2: u32,
    payload: [u8; PAYLOAD],
}

const _: () = assert!(std::mem::size_of::<Entry>() == ENTRY_SIZE);

#[repr(C)]
struct Header {
    capacity: u64,
    head: u64,
    tail: u64,
    enqueued: u64,
    flushed: u64,
    dropped: u64,
    waits: u64,
    truncated: u64,
    /// A backend waits for the flusher (queue half full or full, or audit_flush()).
    flush_requested: u64,
    /// Events of a hot standby, which cannot write the log (not queued).
    in_recovery: u64,
}

static mut QUEUE: *mut Header = std::ptr::null_mut();
static mut LOCK: *mut pg_sys::LWLock = std::ptr::null_mut();
static mut PREV_SHMEM_REQUEST: pg_sys::shmem_request_hook_type = None;
static mut PREV_SHMEM_STARTUP: pg_sys::shmem_startup_hook_type = None;
const TRANCHE: &CStr = c"pg_privacy audit queue";

fn capacity_setting() -> u64 {
    gucs::AUDIT_QUEUE_SIZE.get().max(1) as u64
}

fn shmem_size() -> usize {
    std::mem::size_of::<Header>() + capacity_setting() as usize * ENTRY_SIZE
}

/// In the postmaster while preload libraries load.
pub fn init() {
    // SAFETY: called once in the postmaster; the previous hooks are kept and called.
    unsafe {
        PREV_SHMEM_REQUEST = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(shmem_request);
        PREV_SHMEM_STARTUP = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(shmem_startup);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn shmem_request() {
    if let Some(prev) = PREV_SHMEM_REQUEST {
        prev();
    }
    pg_sys::RequestAddinShmemSpace(shmem_size());
    pg_sys::RequestNamedLWLockTranche(TRANCHE.as_ptr(), 1);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn shmem_startup() {
    if let Some(prev) = PREV_SHMEM_STARTUP {
        prev();
    }
    // AddinShmemInitLock is entry 21 of the main LWLock array (as pgrx's own shared memory).
    let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock;
    pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
    let mut found = false;
    let p = pg_sys::ShmemInitStruct(c"pg_privacy audit queue".as_ptr(), shmem_size(), &mut found)
        as *mut Header;
    if !found {
        std::ptr::write_bytes(p as *mut u8, 0, shmem_size());
        (*p).capacity = capacity_setting();
    }
    QUEUE = p;
    LOCK = &raw mut (*pg_sys::GetNamedLWLockTranche(TRANCHE.as_ptr())).lock;
    pg_sys::LWLockRelease(init_lock);
}

/// Whether the queue exists (the library was preloaded).
pub fn available() -> bool {
    // SAFETY: set once at shared memory start-up, inherited by every backend.
    unsafe { !QUEUE.is_null() }
}

/// The queue under its lock.
struct Locked {
    q: *mut Header,
}

impl Locked {
    fn acquire() -> Locked {
        // SAFETY: the lock exists when the queue does (callers check `available`); an error
        // while it is held releases it (LWLockReleaseAll at abort).
        unsafe {
            pg_sys::LWLockAcquire(LOCK, pg_sys::LWLockMode::LW_EXCLUSIVE);
            Locked { q: QUEUE }
        }
    }

    fn header(&mut self) -> &mut Header {
        // SAFETY: exclusive access under the lock.
        unsafe { &mut *self.q }
    }

    fn entry(&mut self, position: u64) -> &mut Entry {
        // SAFETY: the entries follow the header; position % capacity is in range.
        unsafe {
            let cap = (*self.q).capacity;
            let base = (self.q as *mut u8).add(std::mem::size_of::<Header>()) as *mut Entry;
            &mut *base.add((position % cap) as usize)
        }
    }

    /// Advances head over flushed entries.
    fn advance_head(&mut self) {
        loop {
            let (head, tail) = (self.header().head, self.header().tail);
            if head >= tail || self.entry(head).state != EMPTY {
                break;
            }
            self.header().head = head + 1;
        }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: acquired in `acquire`.
        unsafe { pg_sys::LWLockRelease(LOCK) };
    }
}

fn my_database() -> u32 {
    // SAFETY: set for every backend connected to a database.
    unsafe { pg_sys::MyDatabaseId }.to_u32()
}

fn interrupted() -> bool {
    // SAFETY: flags set by signal handlers.
    unsafe { pg_sys::QueryCancelPending != 0 || pg_sys::ProcDiePending != 0 }
}

/// Waits on this backend's latch for at most `d`.
pub fn nap(d: Duration) {
    // SAFETY: waits on this backend's own latch; postmaster death ends the process.
    unsafe {
        pg_sys::WaitLatch(
            pg_sys::MyLatch,
            (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
            d.as_millis() as std::ffi::c_long,
            pg_sys::PG_WAIT_EXTENSION,
        );
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
}

/// Puts an event into the queue if there is room.
fn try_push(event: &Event) -> bool {
    let database = my_database();
    let mut buf = [0u8; PAYLOAD];
    let fields: Vec<&[u8]> = event.fields.iter().map(|f| f.as_slice()).collect();
    let (len, cut) = pack_fields(&fields, &mut buf);
    let truncated = cut || event.truncated;
    let action = event.action as u8;
    let mut q = Locked::acquire();
    let h = q.header();
    let (head, tail, cap) = (h.head, h.tail, h.capacity);
    if tail - head >= cap {
        return false;
    }
    h.tail = tail + 1;
    h.enqueued += 1;
    if truncated {
        h.truncated += 1;
    }
    let e = q.entry(tail);
    e.state = READY;
    e.action = action;
    e.truncated = truncated as u8;
    e.database = database;
    e.taker = 0;
    e.position = tail;
    e.logged_at = event.logged_at;
    e.has_txid = event.txid.is_some() as u8;
    e.txid = event.txid.unwrap_or(0);
    e.has_rows = event.rows.is_some() as u8;
    e.rows = event.rows.unwrap_or(0);
    e.len = len as u32;
    e.payload[..len].copy_from_slice(&buf[..len]);
    drop(q);
    // Half full: ask the worker to flush before anyone has to wait.
    if tail - head + 1 == cap / 2 {
        request_flush(database);
    }
    true
}

/// A hot standby cannot write the audit log, and no worker flushes there: its events are
/// counted, not queued (the primary's log holds what happened on the primary).
fn standby(event_count: u64) -> bool {
    // SAFETY: reads shared state; cheap after recovery has ended (a cached flag).
    if !unsafe { pg_sys::RecoveryInProgress() } {
        return false;
    }
    let mut q = Locked::acquire();
    q.header().in_recovery += event_count;
    true
}

/// Puts an event into the queue, waiting for room while a worker serves this database.
pub fn push(event: &Event) {
    if !available() || standby(1) || try_push(event) {
        return;
    }
    let database = my_database();
    {
        let mut q = Locked::acquire();
        q.header().waits += 1;
    }
    let mut no_flusher_since: Option<Instant> = None;
    let started = Instant::now();
    let mut evicted = false;
    loop {
        // The queue is shared by all databases: entries of a database that no worker serves
        // (none could be started) would keep everyone waiting. After a while they are given up,
        // and counted.
        if !evicted && started.elapsed() >= ORPHAN_GRACE {
            evict_orphans();
            evicted = true;
        }
        // Full: the worker makes room; wait for it as long as one serves this database.
        if request_flush(database) {
            no_flusher_since = None;
        } else {
            let since = *no_flusher_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= NO_FLUSHER_GRACE {
                give_up("no pg_privacy worker serves this database");
                return;
            }
        }
        if interrupted() {
            give_up("the statement was cancelled while it waited for room");
            // SAFETY: raises the pending cancel or termination.
            unsafe { pg_sys::ProcessInterrupts() };
            return;
        }
        nap(Duration::from_millis(5));
        if try_push(event) {
            return;
        }
    }
}

/// Asks the database's worker to flush now; true when a worker serves the database.
pub fn request_flush(database: u32) -> bool {
    {
        let mut q = Locked::acquire();
        q.header().flush_requested = 1;
    }
    worker::wake_flusher(database)
}

/// In the worker: whether a backend asked for a flush since the last call.
pub fn take_flush_request() -> bool {
    if !available() {
        return false;
    }
    let mut q = Locked::acquire();
    std::mem::take(&mut q.header().flush_requested) != 0
}

/// From an aborting transaction: put the event in if there is room, else count it as lost
/// (nothing may wait or raise there).
pub fn push_nowait(event: &Event) {
    if !available() || standby(1) {
        return;
    }
    if !try_push(event) {
        let mut q = Locked::acquire();
        q.header().dropped += 1;
    }
}

/// Gives up the entries of databases that no live worker serves (counted as dropped).
fn evict_orphans() {
    let databases: Vec<u32> = {
        let mut q = Locked::acquire();
        let (head, tail) = (q.header().head, q.header().tail);
        let mut dbs: Vec<u32> = (head..tail).map(|p| q.entry(p).database).collect();
        dbs.sort_unstable();
        dbs.dedup();
        dbs
    };
    // Outside the queue's lock: the worker table has a lock of its own.
    let orphans: Vec<u32> = databases
        .into_iter()
        .filter(|d| !worker::serves(*d))
        .collect();
    if orphans.is_empty() {
        return;
    }
    let dropped = {
        let mut q = Locked::acquire();
        let (head, tail) = (q.header().head, q.header().tail);
        let mut n = 0u64;
        for p in head..tail {
            let e = q.entry(p);
            if e.state == READY && orphans.contains(&e.database) {
                e.state = EMPTY;
                n += 1;
            }
        }
        q.header().dropped += n;
        q.advance_head();
        n
    };
    if dropped > 0 {
        pgrx::warning!(
            "pg_privacy: {dropped} audit event(s) of database(s) that no pg_privacy worker serves \
             were given up to make room in the audit queue"
        );
    }
}

fn give_up(why: &str) {
    {
        let mut q = Locked::acquire();
        q.header().dropped += 1;
    }
    pgrx::warning!("pg_privacy: an audit event was lost: the audit queue is full and {why}");
}

/// Entries taken for a flush: their positions, to mark done after the commit.
pub struct Taken {
    pub positions: Vec<u64>,
    pub events: Vec<Event>,
}

/// Takes up to `max` ready entries of this database, oldest first.
pub fn take(max: usize) -> Taken {
    let mut out = Taken {
        positions: Vec::new(),
        events: Vec::new(),
    };
    if !available() {
        return out;
    }
    let database = my_database();
    // SAFETY: this process's pid.
    let me = unsafe { pg_sys::MyProcPid };
    let mut q = Locked::acquire();
    let (head, tail) = (q.header().head, q.header().tail);
    for pos in head..tail {
        if out.positions.len() >= max {
            break;
        }
        let e = q.entry(pos);
        if e.database != database {
            continue;
        }
        // An entry taken by a worker that died without finishing is ready again.
        let stale = e.state == TAKEN && e.taker != me && !pid_alive(e.taker);
        if e.state != READY && !stale {
            continue;
        }
        let Some(action) = Action::from_u8(e.action) else {
            continue;
        };
        e.state = TAKEN;
        e.taker = me;
        let fields = unpack_fields(&e.payload[..e.len as usize], FIELDS).unwrap_or_default();
        let mut f: [Vec<u8>; FIELDS] = Default::default();
        for (slot, v) in f.iter_mut().zip(fields) {
            *slot = v.to_vec();
        }
        out.positions.push(pos);
        out.events.push(Event {
            action,
            logged_at: e.logged_at,
            txid: (e.has_txid != 0).then_some(e.txid),
            rows: (e.has_rows != 0).then_some(e.rows),
            fields: f,
            truncated: e.truncated != 0,
        });
    }
    out
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// After the commit that wrote them: the entries are done.
pub fn finish(positions: &[u64]) {
    if positions.is_empty() {
        return;
    }
    let mut q = Locked::acquire();
    for &p in positions {
        q.entry(p).state = EMPTY;
    }
    q.header().flushed += positions.len() as u64;
    q.advance_head();
}

/// After a failed flush: the entries are ready again.
pub fn release(positions: &[u64]) {
    if positions.is_empty() || !available() {
        return;
    }
    let mut q = Locked::acquire();
    for &p in positions {
        let e = q.entry(p);
        if e.state == TAKEN {
            e.state = READY;
            e.taker = 0;
        }
    }
}

/// The queue's end now: what `audit_flush()` waits for.
pub fn end_now() -> u64 {
    Locked::acquire().header().tail
}

/// How many entries of this database before `end` are still waiting (not yet in the log).
pub fn pending_count_before(end: u64) -> u64 {
    let database = my_database();
    let mut q = Locked::acquire();
    let head = q.header().head;
    (head..end.max(head))
        .filter(|&p| {
            let e = q.entry(p);
            e.position == p && e.database == database && e.state != EMPTY
        })
        .count() as u64
}

/// Whether this database has entries waiting.
pub fn has_ready() -> bool {
    if !available() {
        return false;
    }
    let database = my_database();
    let mut q = Locked::acquire();
    let (head, tail) = (q.header().head, q.header().tail);
    (head..tail).any(|p| {
        let e = q.entry(p);
        e.database == database && e.state == READY
    })
}

/// For `privacy.status()`.
pub fn status_json() -> serde_json::Value {
    if !available() || !status::preloaded() {
        return serde_json::json!({ "available": false, "reason": "not preloaded" });
    }
    let mut q = Locked::acquire();
    let h = q.header();
    serde_json::json!({
        "available": true,
        "capacity": h.capacity,
        "depth": h.tail - h.head,
        "enqueued": h.enqueued,
        "flushed": h.flushed,
        "dropped": h.dropped,
        "waits": h.waits,
        "truncated": h.truncated,
        "not_queued_in_recovery": h.in_recovery,
    })
}
