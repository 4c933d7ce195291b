//! `privacy.jobs`: long-running work (re-encryption, static anonymisation, retention runs)
//! visible from any session while it runs. Progress must be visible before the working
//! transaction commits, so it lives in shared memory, not in a table: a fixed set of slots,
//! reused oldest-finished first. Without preloading there is no shared memory and jobs simply
//! run unlisted.

use crate::status;
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PGRXSharedMemory, PgLwLock};

const SLOTS: usize = 64;
const TARGET_LEN: usize = 192;

#[derive(Copy, Clone)]
struct Slot {
    id: i64,
    database: u32,
    pid: i32,
    kind: u8,
    state: u8,
    target: [u8; TARGET_LEN],
    target_len: u16,
    started_at: i64,
    finished_at: i64,
    rows_done: i64,
    rows_total_estimate: i64,
}

const FREE: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const FAILED: u8 = 3;

impl Slot {
    const EMPTY: Slot = Slot {
        id: 0,
        database: 0,
        pid: 0,
        kind: 0,
        state: FREE,
        target: [0; TARGET_LEN],
        target_len: 0,
        started_at: 0,
        finished_at: 0,
        rows_done: 0,
        rows_total_estimate: 0,
    };
}

#[derive(Copy, Clone)]
pub struct JobTable {
    next_id: i64,
    slots: [Slot; SLOTS],
}

impl Default for JobTable {
    fn default() -> Self {
        JobTable {
            next_id: 1,
            slots: [Slot::EMPTY; SLOTS],
        }
    }
}

// SAFETY: plain old data, no pointers.
unsafe impl PGRXSharedMemory for JobTable {}

static JOBS: PgLwLock<JobTable> = unsafe { PgLwLock::new(c"pg_privacy jobs") };

const KINDS: [&str; 4] = ["", "reencrypt", "anonymize_table", "retention"];

pub fn init() {
    if status::preloaded() {
        pg_shmem_init!(JOBS);
    }
}

fn now() -> i64 {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

fn my_pid() -> i32 {
    // SAFETY: set for every backend.
    unsafe { pg_sys::MyProcPid }
}

/// Registers a running job and returns its id, or NULL when jobs are not tracked (library not
/// preloaded) or the kind is unknown.
#[pg_extern(volatile, parallel_unsafe, name = "_job_start")]
fn job_start(kind: &str, target: &str, rows_total_estimate: i64) -> Option<i64> {
    let kind = KINDS.iter().position(|k| *k == kind && !k.is_empty())? as u8;
    if !status::preloaded() {
        return None;
    }
    let mut table = JOBS.exclusive();
    // A free slot, else the one that finished longest ago; if all run, the job runs unlisted.
    let index = table
        .slots
        .iter()
        .position(|s| s.state == FREE)
        .or_else(|| {
            table
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.state != RUNNING || !alive(s.pid))
                .min_by_key(|(_, s)| s.finished_at)
                .map(|(i, _)| i)
        })?;
    let id = table.next_id;
    table.next_id += 1;
    let bytes = target.as_bytes();
    let mut len = bytes.len().min(TARGET_LEN);
    while !target.is_char_boundary(len) {
        len -= 1;
    }
    let mut slot = Slot::EMPTY;
    slot.id = id;
    // SAFETY: set for every backend connected to a database.
    slot.database = unsafe { pg_sys::MyDatabaseId }.to_u32();
    slot.pid = my_pid();
    slot.kind = kind;
    slot.state = RUNNING;
    slot.target[..len].copy_from_slice(&bytes[..len]);
    slot.target_len = len as u16;
    slot.started_at = now();
    slot.rows_total_estimate = rows_total_estimate;
    table.slots[index] = slot;
    Some(id)
}

/// Updates a job this session runs (other sessions' jobs are left alone).
fn update(id: i64, f: impl FnOnce(&mut Slot)) {
    if !status::preloaded() {
        return;
    }
    let pid = my_pid();
    let mut table = JOBS.exclusive();
    if let Some(slot) = table
        .slots
        .iter_mut()
        .find(|s| s.id == id && s.pid == pid && s.state == RUNNING)
    {
        f(slot);
    }
}

#[pg_extern(volatile, parallel_unsafe, name = "_job_progress")]
fn job_progress(id: i64, rows_done: i64) {
    update(id, |s| s.rows_done = rows_done);
}

#[pg_extern(volatile, parallel_unsafe, name = "_job_finish")]
fn job_finish(id: i64, rows_done: i64, ok: bool) {
    update(id, |s| {
        s.rows_done = rows_done;
        s.state = if ok { DONE } else { FAILED };
        s.finished_at = now();
    });
}

fn alive(pid: i32) -> bool {
    // SAFETY: looks the pid up in the proc array.
    !unsafe { pg_sys::BackendPidGetProc(pid) }.is_null()
}

fn timestamp(t: i64) -> Option<TimestampWithTimeZone> {
    (t != 0)
        .then(|| TimestampWithTimeZone::try_from(t).ok())
        .flatten()
}

/// The jobs of the current database, newest first. A job whose session died shows as failed.
#[pg_extern(volatile, parallel_restricted, name = "jobs_list")]
#[allow(clippy::type_complexity)]
fn jobs_list() -> TableIterator<
    'static,
    (
        name!(id, i64),
        name!(kind, String),
        name!(target, String),
        name!(started_at, Option<TimestampWithTimeZone>),
        name!(rows_done, i64),
        name!(rows_total_estimate, i64),
        name!(state, String),
        name!(finished_at, Option<TimestampWithTimeZone>),
        name!(pid, i32),
    ),
> {
    let mut rows = Vec::new();
    if status::preloaded() {
        // SAFETY: set for every backend connected to a database.
        let db = unsafe { pg_sys::MyDatabaseId }.to_u32();
        let slots: Vec<Slot> = JOBS
            .share()
            .slots
            .iter()
            .filter(|s| s.state != FREE && s.database == db)
            .copied()
            .collect();
        for s in slots {
            let state = match s.state {
                RUNNING if alive(s.pid) => "running",
                RUNNING => "failed",
                DONE => "done",
                _ => "failed",
            };
            rows.push((
                s.id,
                KINDS[s.kind as usize].to_string(),
                String::from_utf8_lossy(&s.target[..s.target_len as usize]).into_owned(),
                timestamp(s.started_at),
                s.rows_done,
                s.rows_total_estimate,
                state.to_string(),
                timestamp(s.finished_at),
                s.pid,
            ));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    TableIterator::new(rows)
}
