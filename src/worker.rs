//! The background worker: due work (retention purges) runs without anyone calling it.
//!
//! Needs the library preloaded. A static **launcher** (`pg_privacy launcher`, connected to no
//! database) scans the shared catalog `pg_database` every `privacy.worker_naptime` and starts one
//! dynamic **worker** (`pg_privacy worker`) per database that has none. A worker connects to its
//! database; where pg_privacy is not installed it exits at once and the launcher leaves that
//! database alone for six naptimes (or until `CREATE EXTENSION`, whose commit wakes the
//! launcher). Otherwise it calls `privacy._worker_step()` in a transaction of its own: while a
//! step processed rows it calls again after `privacy.retention_batch_pause`, else after a
//! naptime. It waits on its latch at most a second at a time, so SIGTERM ends it promptly, and
//! `privacy.worker_wake()` sets the latch to run due work now.
//!
//! Shared memory holds one slot per database: which process serves it, what it does, when it
//! last ran, and until when the launcher leaves it alone. No slot or log line holds a data value.

use crate::{audit, gucs, status};
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BackgroundWorkerStatus, BgWorkerStartTime,
    DynamicBackgroundWorker, SignalWakeFlags,
};
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PGRXSharedMemory, PgLwLock};
use serde_json::json;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const LIBRARY: &str = "pg_privacy";
const LAUNCHER_NAME: &str = "pg_privacy launcher";
const WORKER_TYPE: &str = "pg_privacy worker";
/// The postmaster restarts a launcher that failed after this long.
const LAUNCHER_RESTART: Duration = Duration::from_secs(10);
/// The postmaster restarts a worker that failed (exit code 1) after this long.
const WORKER_RESTART: Duration = Duration::from_secs(5);
/// Longest wait on the latch: how fast a worker notices SIGTERM even if the latch is not set.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// Workers the launcher has started that have not yet taken their slot: a cluster with many
/// databases is probed a few at a time, leaving background worker slots for parallel queries.
const MAX_STARTING: usize = 2;
/// A database without pg_privacy is probed again after this many naptimes.
const NOT_INSTALLED_NAPTIMES: i64 = 6;
/// A step that keeps failing is logged again after this long.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(600);
/// The launcher's wait before its first scan.
const STARTUP_GRACE: Duration = Duration::from_millis(500);
/// Databases tracked in shared memory.
const SLOTS: usize = 256;
/// How long a statement that needs the database free (DROP DATABASE, ...) waits for the worker.
const RELEASE_WAIT: Duration = Duration::from_secs(3);
/// On SIGTERM (a clean shutdown, or the worker alone), how long the worker keeps flushing while
/// other sessions of its database are still there: at a shutdown they end within milliseconds,
/// and a worker must still end within a second.
const DRAIN_WAIT: Duration = Duration::from_millis(500);
/// How often the worker looks for rows to seal when no read events arrive.
const SEAL_EVERY: Duration = Duration::from_secs(1);

const STEP_QUERY: &CStr = c"SELECT privacy._worker_step()";

// Slot states.
const STARTING: u8 = 1;
const IDLE: u8 = 2;
const RUNNING: u8 = 3;
const NO_STEP_FUNCTION: u8 = 4;
const NOT_INSTALLED: u8 = 5;
const STOPPED: u8 = 6;

fn state_name(state: u8) -> Option<&'static str> {
    Some(match state {
        STARTING => "starting",
        IDLE => "idle",
        RUNNING => "running",
        NO_STEP_FUNCTION => "waiting for privacy._worker_step()",
        NOT_INSTALLED => "not installed",
        STOPPED => "stopped",
        _ => return None,
    })
}

#[derive(Copy, Clone)]
struct Slot {
    /// 0: the slot is free.
    database: u32,
    /// The worker serving the database, 0 when none.
    pid: i32,
    state: u8,
    /// Set by `worker_wake()`: run due work now.
    wake: bool,
    /// The last step failed.
    last_error: bool,
    /// The worker's naptime in seconds (it changes on reload).
    naptime: i32,
    /// Exit code of the last worker; 1 means the postmaster restarts it.
    exit_code: i32,
    started_at: i64,
    last_tick: i64,
    last_rows: i64,
    stopped_at: i64,
    /// The launcher starts no worker for the database before this time (not installed, or
    /// released for DROP DATABASE).
    retry_after: i64,
}

impl Slot {
    const EMPTY: Slot = Slot {
        database: 0,
        pid: 0,
        state: 0,
        wake: false,
        last_error: false,
        naptime: 0,
        exit_code: 0,
        started_at: 0,
        last_tick: 0,
        last_rows: 0,
        stopped_at: 0,
        retry_after: 0,
    };
}

#[derive(Copy, Clone)]
pub struct WorkerTable {
    launcher_pid: i32,
    slots: [Slot; SLOTS],
}

impl Default for WorkerTable {
    fn default() -> Self {
        WorkerTable {
            launcher_pid: 0,
            slots: [Slot::EMPTY; SLOTS],
        }
    }
}

impl WorkerTable {
    fn find(&self, database: u32) -> Option<&Slot> {
        self.slots.iter().find(|s| s.database == database)
    }

    fn find_mut(&mut self, database: u32) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.database == database)
    }

    /// The slot of the database, taking a free one if it has none.
    fn slot_for(&mut self, database: u32) -> Option<&mut Slot> {
        let index = self
            .slots
            .iter()
            .position(|s| s.database == database)
            .or_else(|| self.slots.iter().position(|s| s.database == 0))?;
        let slot = &mut self.slots[index];
        if slot.database != database {
            *slot = Slot::EMPTY;
            slot.database = database;
        }
        Some(slot)
    }
}

// SAFETY: plain old data, no pointers.
unsafe impl PGRXSharedMemory for WorkerTable {}

static WORKERS: PgLwLock<WorkerTable> = unsafe { PgLwLock::new(c"pg_privacy workers") };

static mut PREV_PROCESS_UTILITY: pg_sys::ProcessUtility_hook_type = None;

/// Registers the shared memory, the launcher and the utility hook; only when preloaded.
pub fn init() {
    if !status::preloaded() {
        return;
    }
    pg_shmem_init!(WORKERS);
    BackgroundWorkerBuilder::new(LAUNCHER_NAME)
        .set_type(LAUNCHER_NAME)
        .set_library(LIBRARY)
        .set_function("privacy_launcher_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(LAUNCHER_RESTART))
        .load();
    // SAFETY: called once, in the postmaster while preload libraries load; the previous hook
    // is kept and called.
    unsafe {
        PREV_PROCESS_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

fn now() -> i64 {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

const USECS_PER_SEC: i64 = 1_000_000;

fn my_pid() -> i32 {
    // SAFETY: set for every process under the postmaster.
    unsafe { pg_sys::MyProcPid }
}

fn alive(pid: i32) -> bool {
    // SAFETY: looks the pid up in the proc array.
    pid != 0 && !unsafe { pg_sys::BackendPidGetProc(pid) }.is_null()
}

/// Sets the latch of a server process; false when it is gone.
fn set_latch(pid: i32) -> bool {
    if pid == 0 {
        return false;
    }
    // SAFETY: the PGPROC array lives in shared memory for the life of the server; should the
    // process exit meanwhile, setting the latch of whatever reuses the entry is harmless.
    unsafe {
        let proc_ = pg_sys::BackendPidGetProc(pid);
        if proc_.is_null() {
            return false;
        }
        pg_sys::SetLatch(&raw mut (*proc_).procLatch);
    }
    true
}

fn naptime_secs() -> i32 {
    gucs::WORKER_NAPTIME.get().max(1)
}

/// Reloads postgresql.conf after SIGHUP, from the main loop (never inside the handler).
fn reload_if_requested() {
    if BackgroundWorker::sighup_received() {
        // SAFETY: main loop of a background worker, outside any transaction.
        unsafe {
            pg_sys::ConfigReloadPending = 0;
            pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The launcher
// ---------------------------------------------------------------------------------------------

struct Database {
    oid: u32,
    name: String,
}

/// Databases that accept connections, read from the shared catalog (the launcher is connected
/// to no database, so SQL is not available).
fn list_databases() -> Vec<Database> {
    let mut databases = Vec::new();
    // SAFETY: a catalog heap scan in a transaction of its own, as autovacuum's launcher does;
    // the tuples are read before the scan ends.
    unsafe {
        pg_sys::StartTransactionCommand();
        let _ = pg_sys::GetTransactionSnapshot();
        let lockmode = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
        let rel = pg_sys::table_open(pg_sys::DatabaseRelationId, lockmode);
        let scan = pg_sys::table_beginscan_catalog(rel, 0, std::ptr::null_mut());
        loop {
            let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tuple.is_null() {
                break;
            }
            let form = &*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_database>(tuple);
            // -2: a database whose DROP was interrupted; it cannot be connected to.
            if form.datistemplate || !form.datallowconn || form.datconnlimit == -2 {
                continue;
            }
            databases.push(Database {
                oid: form.oid.to_u32(),
                name: CStr::from_ptr(form.datname.data.as_ptr())
                    .to_string_lossy()
                    .into_owned(),
            });
        }
        pg_sys::table_endscan(scan);
        pg_sys::table_close(rel, lockmode);
        pg_sys::CommitTransactionCommand();
    }
    databases
}

fn start_worker(db: &Database) -> Option<DynamicBackgroundWorker> {
    let mut name = format!("{WORKER_TYPE} for database {}", db.name);
    // bgw_name holds 95 bytes; a database name has at most 63.
    while name.len() > 95 {
        name.pop();
    }
    BackgroundWorkerBuilder::new(&name)
        .set_type(WORKER_TYPE)
        .set_library(LIBRARY)
        .set_function("privacy_worker_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(WORKER_RESTART))
        .set_argument(Some(pg_sys::Datum::from(db.oid)))
        .set_notify_pid(my_pid())
        .load_dynamic()
        .ok()
}

#[pg_guard]
unsafe extern "C-unwind" fn launcher_exit(_code: std::ffi::c_int, _arg: pg_sys::Datum) {
    let me = my_pid();
    let mut table = WORKERS.exclusive();
    if table.launcher_pid == me {
        table.launcher_pid = 0;
    }
}

/// The launcher's entry point (static background worker).
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn privacy_launcher_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // No database: only the shared catalogs are readable, which is all the launcher needs.
    BackgroundWorker::connect_worker_to_spi(None, None);
    WORKERS.exclusive().launcher_pid = my_pid();
    // SAFETY: registers a plain callback for this process's exit.
    unsafe { pg_sys::before_shmem_exit(Some(launcher_exit), pg_sys::Datum::from(0)) };

    // Workers this launcher registered, by database. After a launcher restart the workers it
    // started before are found through their slots instead.
    let mut handles: HashMap<u32, DynamicBackgroundWorker> = HashMap::new();
    let mut warned_full = false;
    // After a crash the postmaster restarts the workers registered before it: let them take
    // their slots before looking for databases without one.
    if !BackgroundWorker::wait_latch(Some(STARTUP_GRACE)) {
        return;
    }
    loop {
        reload_if_requested();
        let databases = list_databases();
        launch(&databases, &mut handles, &mut warned_full);
        let naptime = Duration::from_secs(naptime_secs() as u64);
        // Woken early by worker_wake() (a new CREATE EXTENSION) and by the postmaster when a
        // worker it started starts or exits (SIGUSR1 sets the latch).
        if !BackgroundWorker::wait_latch(Some(naptime)) {
            break;
        }
    }
}

/// Starts a worker for each database that needs one; forgets the databases that are gone.
fn launch(
    databases: &[Database],
    handles: &mut HashMap<u32, DynamicBackgroundWorker>,
    warned_full: &mut bool,
) {
    let present: std::collections::HashSet<u32> = databases.iter().map(|d| d.oid).collect();
    // A worker registered for a database that is gone would fail to connect and be restarted
    // for ever: unregister it.
    let gone: Vec<u32> = handles
        .keys()
        .filter(|oid| !present.contains(oid))
        .copied()
        .collect();
    for oid in gone {
        if let Some(handle) = handles.remove(&oid) {
            let _ = handle.terminate();
        }
    }
    {
        let mut table = WORKERS.exclusive();
        for slot in table.slots.iter_mut() {
            if slot.database != 0 && !present.contains(&slot.database) && !alive(slot.pid) {
                *slot = Slot::EMPTY;
            }
        }
    }

    let now = now();
    let restart_window = (WORKER_RESTART.as_secs() as i64 + 2) * USECS_PER_SEC;
    let mut wanted = Vec::new();
    // Workers started that have not taken their slot yet (or found it taken and are leaving).
    let mut starting = 0;
    {
        let table = WORKERS.share();
        for db in databases {
            let slot = table.find(db.oid).copied().unwrap_or(Slot::EMPTY);
            let registered = match handles.get(&db.oid).map(|h| h.pid()) {
                Some(Ok(pid)) => {
                    if pid != slot.pid {
                        starting += 1;
                    }
                    true
                }
                Some(Err(BackgroundWorkerStatus::NotYetStarted)) => {
                    starting += 1;
                    true
                }
                Some(_) => {
                    handles.remove(&db.oid);
                    false
                }
                None => false,
            };
            if registered || alive(slot.pid) || slot.retry_after > now {
                continue;
            }
            // A worker that failed is restarted by the postmaster after WORKER_RESTART.
            if slot.exit_code != 0 && now - slot.stopped_at < restart_window {
                continue;
            }
            wanted.push(db);
        }
    }
    for db in wanted {
        if starting >= MAX_STARTING {
            break; // the next ones when these have started (the postmaster wakes us)
        }
        match start_worker(db) {
            Some(handle) => {
                handles.insert(db.oid, handle);
                starting += 1;
                *warned_full = false;
            }
            None => {
                if !*warned_full {
                    log!(
                        "pg_privacy launcher: no free background worker slot for a database \
                         worker; raise max_worker_processes"
                    );
                    *warned_full = true;
                }
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The per-database worker
// ---------------------------------------------------------------------------------------------

/// What one tick found.
enum Tick {
    /// The step ran and processed this many rows.
    Done(i64),
    /// The extension is not installed in this database.
    NotInstalled,
    /// The installed version has no `privacy._worker_step()`.
    NoStepFunction,
    /// The step's transaction failed with this SQLSTATE.
    Failed(String),
}

/// Takes the database's slot; false when another live worker already serves it, or the
/// database was released (DROP DATABASE) or found without pg_privacy a moment ago.
fn claim(database: u32) -> bool {
    let me = my_pid();
    let now = now();
    let mut table = WORKERS.exclusive();
    let Some(slot) = table.slot_for(database) else {
        return false;
    };
    if slot.pid != me && alive(slot.pid) {
        return false;
    }
    if slot.retry_after > now {
        return false;
    }
    slot.pid = me;
    slot.state = STARTING;
    slot.started_at = now;
    slot.stopped_at = 0;
    slot.exit_code = 0;
    slot.last_error = false;
    slot.naptime = naptime_secs();
    true
}

fn with_slot(database: u32, f: impl FnOnce(&mut Slot)) {
    let me = my_pid();
    let mut table = WORKERS.exclusive();
    if let Some(slot) = table.find_mut(database) {
        if slot.pid == me {
            f(slot);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn worker_exit(code: std::ffi::c_int, arg: pg_sys::Datum) {
    let database = arg.value() as u32;
    with_slot(database, |slot| {
        slot.pid = 0;
        slot.exit_code = code;
        slot.stopped_at = now();
        slot.wake = false;
        if slot.state != NOT_INSTALLED {
            slot.state = STOPPED;
        }
    });
}

/// True while the worker runs a step: SIGTERM then cancels it, so the worker ends promptly even
/// in the middle of a long batch (which is rolled back and redone later).
static IN_STEP: AtomicBool = AtomicBool::new(false);
/// pgrx's SIGTERM handler, which [`worker_sigterm`] calls first.
static mut PGRX_SIGTERM: pg_sys::pqsigfunc = None;

unsafe extern "C-unwind" fn worker_sigterm(signal: std::ffi::c_int) {
    // SAFETY: a signal handler of this single-threaded process; it only calls pgrx's handler
    // (flags and the latch) and sets PostgreSQL's interrupt flags, as its own handlers do.
    unsafe {
        if let Some(pgrx_handler) = PGRX_SIGTERM {
            pgrx_handler(signal);
        }
        if IN_STEP.load(Ordering::SeqCst) {
            pg_sys::QueryCancelPending = 1;
            pg_sys::InterruptPending = 1;
        }
    }
}

fn shutdown_requested() -> bool {
    // SAFETY: a flag set by the SIGTERM handler.
    unsafe { pg_sys::ShutdownRequestPending != 0 }
}

fn report_activity(state: pg_sys::BackendState::Type, query: Option<&CStr>) {
    // SAFETY: updates this backend's own pg_stat_activity entry.
    unsafe {
        pg_sys::pgstat_report_activity(state, query.map_or(std::ptr::null(), |q| q.as_ptr()))
    };
}

/// The per-database worker's entry point (dynamic background worker; the argument is the
/// database oid).
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn privacy_worker_main(arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // SAFETY: installs a handler that wraps pgrx's; signals are unblocked, but a SIGTERM in
    // between is handled by either.
    unsafe { PGRX_SIGTERM = pg_sys::pqsignal(libc::SIGTERM, Some(worker_sigterm)) };
    let database = arg.value() as u32;
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(database)), None);
    // The name pg_stat_activity shows; and as the worker runs as the bootstrap superuser, no
    // schema where others may create objects is searched.
    for (name, value) in [
        (c"application_name", c"pg_privacy worker"),
        (c"search_path", c"pg_catalog, pg_temp"),
    ] {
        // SAFETY: sets a session setting of this process, outside any transaction; neither
        // setting reads the catalogs when set.
        unsafe {
            pg_sys::SetConfigOption(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
            )
        };
    }
    if !claim(database) {
        return; // exit code 0: the postmaster forgets this registration
    }
    // SAFETY: registers a plain callback for this process's exit.
    unsafe { pg_sys::before_shmem_exit(Some(worker_exit), pg_sys::Datum::from(database)) };
    report_activity(pg_sys::BackendState::STATE_IDLE, None);

    let mut last_flush: Option<Instant> = None;
    let mut last_seal: Option<Instant> = None;
    let mut warned_no_step = false;
    // The SQLSTATE of the failing step and when it was last logged.
    let mut failing: Option<(String, Instant)> = None;
    let mut last_run: Option<Instant> = None;
    // The last step processed rows: call again after the batch pause, not the naptime.
    let mut busy = false;
    loop {
        reload_if_requested();
        let naptime = naptime_secs();
        let mut wake = false;
        with_slot(database, |slot| {
            slot.naptime = naptime;
            wake = std::mem::take(&mut slot.wake);
        });
        // Queued events every privacy.audit_flush_interval (at once when a backend asks: queue
        // half full, full, or audit_flush()); seals and audit retention every second.
        let flush_every = flush_interval();
        let since_flush = last_flush.map_or(Duration::MAX, |t| t.elapsed());
        let since_seal = last_seal.map_or(Duration::MAX, |t| t.elapsed());
        let flush = audit::queue::take_flush_request()
            || (since_flush >= flush_every && audit::queue::has_ready());
        if flush || since_seal >= SEAL_EVERY {
            while audit_tick(flush) {}
            if flush || since_flush >= flush_every {
                last_flush = Some(Instant::now());
            }
            last_seal = Some(Instant::now());
        }
        let due = match last_run {
            None => true,
            Some(t) => wake || t.elapsed() >= delay(busy, naptime),
        };
        if due {
            with_slot(database, |slot| slot.state = RUNNING);
            let tick = tick();
            last_run = Some(Instant::now());
            busy = false;
            let finished = now();
            match tick {
                Tick::Done(rows) => {
                    busy = rows > 0;
                    if failing.take().is_some() {
                        log!("pg_privacy worker: privacy._worker_step() succeeds again");
                    }
                    with_slot(database, |slot| {
                        slot.state = IDLE;
                        slot.last_tick = finished;
                        slot.last_rows = rows;
                        slot.last_error = false;
                    });
                }
                Tick::NoStepFunction => {
                    if !warned_no_step {
                        warning!(
                            "pg_privacy worker: the installed pg_privacy version has no \
                             privacy._worker_step(); run ALTER EXTENSION pg_privacy UPDATE"
                        );
                        warned_no_step = true;
                    }
                    with_slot(database, |slot| {
                        slot.state = NO_STEP_FUNCTION;
                        slot.last_tick = finished;
                    });
                }
                Tick::NotInstalled => {
                    let until = finished + naptime as i64 * NOT_INSTALLED_NAPTIMES * USECS_PER_SEC;
                    with_slot(database, |slot| {
                        slot.state = NOT_INSTALLED;
                        slot.last_tick = finished;
                        slot.retry_after = until;
                    });
                    return; // exit code 0; the launcher probes again later
                }
                Tick::Failed(_) if shutdown_requested() => {
                    // SIGTERM cancelled the step: not a failure to report.
                }
                Tick::Failed(sqlstate) => {
                    // Once per failure, then every FAILURE_LOG_EVERY while it lasts; the
                    // SQLSTATE only, as a message may quote data values.
                    let again = failing
                        .as_ref()
                        .is_none_or(|(s, t)| *s != sqlstate || t.elapsed() >= FAILURE_LOG_EVERY);
                    if again {
                        log!(
                            "pg_privacy worker: privacy._worker_step() failed with SQLSTATE \
                             {sqlstate}; retrying every {naptime} s"
                        );
                        failing = Some((sqlstate, Instant::now()));
                    }
                    with_slot(database, |slot| {
                        slot.state = IDLE;
                        slot.last_tick = finished;
                        slot.last_rows = 0;
                        slot.last_error = true;
                    });
                }
            }
            report_activity(pg_sys::BackendState::STATE_IDLE, None);
        }
        // At most MAX_WAIT at a time, so SIGTERM is seen even while busy; worker_wake() and
        // SIGHUP set the latch.
        let since = last_run.map_or(Duration::ZERO, |t| t.elapsed());
        let flush_in =
            flush_every.saturating_sub(last_flush.map_or(Duration::ZERO, |t| t.elapsed()));
        let seal_in = SEAL_EVERY.saturating_sub(last_seal.map_or(Duration::ZERO, |t| t.elapsed()));
        let wait = delay(busy, naptime)
            .saturating_sub(since)
            .min(MAX_WAIT)
            .min(flush_in)
            .min(seal_in);
        // False on SIGTERM (or postmaster death): leave the loop and exit with code 0. A SIGTERM
        // during the step may have had its latch wake-up consumed there: check the flag first.
        if shutdown_requested() || !BackgroundWorker::wait_latch(Some(wait)) {
            break;
        }
    }
    drain_audit_queue(database);
}

fn flush_interval() -> Duration {
    Duration::from_millis(gucs::AUDIT_FLUSH_INTERVAL.get().max(1) as u64)
}

/// On SIGTERM: at a clean shutdown the sessions of this database are ending too; flush what they
/// queue until they are gone (at most DRAIN_WAIT), then everything left.
fn drain_audit_queue(database: u32) {
    let deadline = Instant::now() + DRAIN_WAIT;
    loop {
        while audit_tick(true) {}
        // SAFETY: counts the processes connected to the database (this one included).
        let others = unsafe { pg_sys::CountDBBackends(pg_sys::Oid::from(database)) } > 1;
        if !others || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    while audit_tick(true) {}
}

/// One audit transaction: queued events into the log (with `flush`), seals, audit retention. True
/// when a full
/// batch was flushed (more may be waiting).
fn audit_tick(flush: bool) -> bool {
    if !audit::queue::available() {
        return false;
    }
    let positions = std::panic::AssertUnwindSafe(std::cell::RefCell::new(Vec::new()));
    // worker_tick finds out itself (from the catalog cache) whether the audit log exists here.
    match in_transaction(|| audit::seal::worker_tick(flush, &positions)) {
        Ok(flushed) => {
            audit::queue::finish(&positions.borrow());
            flushed >= audit::seal::FLUSH_BATCH
        }
        Err(sqlstate) => {
            log!(
                "pg_privacy worker: the audit flush failed with SQLSTATE {sqlstate}; it is retried"
            );
            audit::queue::release(&positions.borrow());
            false
        }
    }
}

/// Runs `f` in a transaction of its own (the worker's main loop runs outside any): committed
/// when `f` returns, aborted on an error, which is returned as its SQLSTATE.
fn in_transaction<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    // SAFETY: called outside any transaction; the one started here is committed or aborted
    // before returning.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let result = PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
        let value = f();
        // SAFETY: the snapshot pushed above; committing inside the try also catches errors
        // raised at commit (deferred constraints).
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Ok(value)
    }))
    .catch_others(|e| {
        Err(match &e {
            pg_sys::panic::CaughtError::PostgresError(r)
            | pg_sys::panic::CaughtError::ErrorReport(r)
            | pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => {
                sqlstate_text(r.sql_error_code() as i32)
            }
        })
    })
    .execute();
    if result.is_err() {
        // SAFETY: ends the failed transaction (snapshots and SPI state are released with it).
        unsafe { pg_sys::AbortCurrentTransaction() };
    }
    result
}

/// How long after a step the next one is due.
fn delay(busy: bool, naptime: i32) -> Duration {
    if busy {
        Duration::from_millis(gucs::RETENTION_BATCH_PAUSE.get().max(0) as u64)
    } else {
        Duration::from_secs(naptime as u64)
    }
}

/// One step in a transaction of its own. An error rolls the transaction back and is reported
/// by SQLSTATE; it never ends the worker.
fn tick() -> Tick {
    report_activity(pg_sys::BackendState::STATE_RUNNING, Some(STEP_QUERY));
    IN_STEP.store(true, Ordering::SeqCst);
    let result = in_transaction(step).unwrap_or_else(Tick::Failed);
    IN_STEP.store(false, Ordering::SeqCst);
    // SAFETY: a cancel meant for the step that came too late must not hit the idle loop.
    unsafe { pg_sys::QueryCancelPending = 0 };
    // SAFETY: sends this process's table statistics (rows deleted, for autovacuum).
    unsafe { pg_sys::pgstat_report_stat(true) };
    result
}

/// The SQLSTATE of an error code, e.g. "42883".
fn sqlstate_text(code: i32) -> String {
    // SAFETY: formats an int into a static buffer and returns it.
    unsafe { CStr::from_ptr(pg_sys::unpack_sql_state(code)) }
        .to_string_lossy()
        .into_owned()
}

/// Inside the tick's transaction: is pg_privacy installed, has it the step function, and if
/// so run one step.
fn step() -> Tick {
    let (installed, has_step) = Spi::get_two::<bool, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_privacy'), \
                EXISTS (SELECT 1 FROM pg_catalog.pg_proc p \
                          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                         WHERE n.nspname = 'privacy' AND p.proname = '_worker_step' \
                           AND p.pronargs = 0)",
    )
    .unwrap_or_else(|e| pgrx::error!("pg_privacy worker: {e}"));
    if installed != Some(true) {
        return Tick::NotInstalled;
    }
    if has_step != Some(true) {
        return Tick::NoStepFunction;
    }
    let rows = Spi::get_one::<i64>("SELECT privacy._worker_step()::bigint")
        .unwrap_or_else(|e| pgrx::error!("pg_privacy worker: {e}"));
    Tick::Done(rows.unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// SQL interface
// ---------------------------------------------------------------------------------------------

/// Sets the latch of the database's worker; without a live worker, lets the launcher start
/// one now (even if it found pg_privacy missing a moment ago) and wakes it.
fn wake_database(database: u32) {
    let (pid, launcher) = {
        let mut table = WORKERS.exclusive();
        let launcher = table.launcher_pid;
        match table.find_mut(database) {
            Some(slot) => {
                slot.wake = true;
                if !alive(slot.pid) {
                    slot.retry_after = 0;
                }
                (slot.pid, launcher)
            }
            None => (0, launcher),
        }
    };
    if !(alive(pid) && set_latch(pid)) {
        set_latch(launcher);
    }
}

/// Whether a live worker serves the database.
pub fn serves(database: u32) -> bool {
    let pid = WORKERS.share().find(database).map(|s| s.pid).unwrap_or(0);
    alive(pid)
}

/// Sets the latch of the worker that flushes this database's audit queue; true when one is
/// alive (otherwise the launcher is asked to start one).
pub fn wake_flusher(database: u32) -> bool {
    let pid = WORKERS.share().find(database).map(|s| s.pid).unwrap_or(0);
    if alive(pid) && set_latch(pid) {
        return true;
    }
    wake_database(database);
    false
}

/// Asks this database's worker to run due work now (at commit of the calling transaction).
/// True when a worker serves this database; false when none runs yet (the launcher is asked
/// to start one) or pg_privacy is not preloaded.
#[pg_extern(volatile, parallel_unsafe)]
fn worker_wake() -> bool {
    if !status::preloaded() {
        return false;
    }
    // SAFETY: set for every backend connected to a database.
    let database = unsafe { pg_sys::MyDatabaseId }.to_u32();
    let running = WORKERS.share().find(database).is_some_and(|s| alive(s.pid));
    // At commit: the worker then sees what this transaction wrote (a new policy, or the
    // extension itself when CREATE EXTENSION calls this).
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
        wake_database(database)
    });
    running
}

fn timestamp(t: i64) -> Option<TimestampWithTimeZone> {
    (t != 0)
        .then(|| TimestampWithTimeZone::try_from(t).ok())
        .flatten()
}

/// The `"worker"` object of `privacy.status()`: the launcher, and this database's worker.
pub fn status_json() -> serde_json::Value {
    if !status::preloaded() {
        return json!({ "running": false, "reason": "not preloaded" });
    }
    // SAFETY: set for every backend connected to a database.
    let database = unsafe { pg_sys::MyDatabaseId }.to_u32();
    let (launcher_pid, slot) = {
        let table = WORKERS.share();
        (table.launcher_pid, table.find(database).copied())
    };
    let launcher_pid = alive(launcher_pid).then_some(launcher_pid);
    let slot = slot.unwrap_or(Slot::EMPTY);
    let running = alive(slot.pid);
    let mut worker = json!({
        "running": running,
        "launcher_pid": launcher_pid,
        "pid": running.then_some(slot.pid),
        "state": state_name(slot.state),
        "started_at": timestamp(slot.started_at),
        "last_tick": timestamp(slot.last_tick),
        "last_rows": slot.last_rows,
        "last_error": slot.last_error,
        "naptime": if running { slot.naptime } else { naptime_secs() },
    });
    if !running {
        worker["reason"] = json!(if launcher_pid.is_none() {
            "launcher not running"
        } else {
            "worker not started yet"
        });
    }
    worker
}

// ---------------------------------------------------------------------------------------------
// Statements that need a database free of other sessions
// ---------------------------------------------------------------------------------------------

/// The database a utility statement needs free of other sessions: DROP DATABASE, ALTER
/// DATABASE ... RENAME / SET TABLESPACE, CREATE DATABASE ... TEMPLATE.
///
/// # Safety
/// `stmt` is a valid utility statement node.
unsafe fn database_needed_free(stmt: *mut pg_sys::Node) -> Option<(CString, bool)> {
    fn option_value(options: *mut pg_sys::List, name: &str) -> Option<CString> {
        // SAFETY: a list of DefElem nodes from the parser.
        let options = unsafe { pgrx::PgList::<pg_sys::DefElem>::from_pg(options) };
        let found = options.iter_ptr().find_map(|d| {
            // SAFETY: each element is a DefElem with a name.
            unsafe {
                let defname = CStr::from_ptr((*d).defname);
                (defname.to_bytes() == name.as_bytes() && !(*d).arg.is_null())
                    .then(|| CStr::from_ptr(pg_sys::defGetString(d)).to_owned())
            }
        });
        found
    }
    // SAFETY: the node's tag says which struct it is.
    unsafe {
        match (*stmt).type_ {
            pg_sys::NodeTag::T_DropdbStmt => {
                let s = stmt.cast::<pg_sys::DropdbStmt>();
                Some((CStr::from_ptr((*s).dbname).to_owned(), true))
            }
            pg_sys::NodeTag::T_RenameStmt => {
                let s = stmt.cast::<pg_sys::RenameStmt>();
                ((*s).renameType == pg_sys::ObjectType::OBJECT_DATABASE && !(*s).subname.is_null())
                    .then(|| (CStr::from_ptr((*s).subname).to_owned(), false))
            }
            pg_sys::NodeTag::T_AlterDatabaseStmt => {
                let s = stmt.cast::<pg_sys::AlterDatabaseStmt>();
                option_value((*s).options, "tablespace")
                    .map(|_| (CStr::from_ptr((*s).dbname).to_owned(), false))
            }
            pg_sys::NodeTag::T_CreatedbStmt => {
                let s = stmt.cast::<pg_sys::CreatedbStmt>();
                option_value((*s).options, "template").map(|name| (name, false))
            }
            _ => None,
        }
    }
}

/// Stops the database's worker and keeps the launcher from starting another for six naptimes,
/// so a statement that needs the database to itself is not refused because of the worker.
fn release_database(database: u32) {
    let naptime = naptime_secs() as i64;
    let until = now() + naptime.max(10) * NOT_INSTALLED_NAPTIMES * USECS_PER_SEC;
    let pid = {
        let mut table = WORKERS.exclusive();
        match table.find_mut(database) {
            Some(slot) => {
                slot.retry_after = until;
                slot.wake = false;
                slot.pid
            }
            None => {
                if let Some(slot) = table.slot_for(database) {
                    slot.retry_after = until;
                }
                0
            }
        }
    };
    if !alive(pid) {
        return;
    }
    // SAFETY: signals a server process of the same cluster; SIGTERM ends the worker's loop.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + RELEASE_WAIT;
    while alive(pid) && Instant::now() < deadline {
        // SAFETY: a plain sleep, then the usual interrupt check.
        unsafe { pg_sys::pg_usleep(20_000) };
        pgrx::check_for_interrupts!();
    }
}

/// Lets the launcher start the database's worker again now.
fn unrelease_database(database: u32) {
    let launcher = {
        let mut table = WORKERS.exclusive();
        if let Some(slot) = table.find_mut(database) {
            slot.retry_after = 0;
        }
        table.launcher_pid
    };
    set_latch(launcher);
}

/// Frees the database of its worker for the statements that need it to themselves (DROP
/// DATABASE would otherwise wait 5 s and fail: "being accessed by other users").
#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: reads the statement node PostgreSQL passes.
    let released = unsafe {
        let stmt = (*pstmt).utilityStmt;
        let needed = (!stmt.is_null())
            .then(|| database_needed_free(stmt))
            .flatten();
        needed.and_then(|(name, dropping)| {
            let oid = pg_sys::get_database_oid(name.as_ptr(), true);
            // Only for who may run the statement: others cannot pause a worker this way.
            (oid != pg_sys::InvalidOid && pg_sys::pg_database_ownercheck(oid, pg_sys::GetUserId()))
                .then_some((oid.to_u32(), dropping))
        })
    };
    if let Some((database, dropping)) = released {
        release_database(database);
        // If the statement fails the database is still there and wants its worker back; after
        // the other statements too. A dropped database keeps none.
        let back = move || unrelease_database(database);
        pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Abort, back);
        if !dropping {
            pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, back);
        }
    }
    // SAFETY: reads the statement node PostgreSQL passes.
    let copy = unsafe { audit::hook::copy_before((*pstmt).utilityStmt) };
    // SAFETY: the arguments come from PostgreSQL and are passed on unchanged.
    unsafe {
        call_next_process_utility(
            pstmt,
            query_string,
            read_only_tree,
            context,
            params,
            query_env,
            dest,
            qc,
        );
        // A `COPY table TO` of a read-audited table is a read (the audit's only utility event).
        audit::hook::copy_after(copy, qc);
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn call_next_process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: the caller passes PostgreSQL's arguments unchanged.
    unsafe {
        match PREV_PROCESS_UTILITY {
            Some(prev) => prev(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
            None => pg_sys::standard_ProcessUtility(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
        }
    }
}
