//! Tamper evidence and the worker's audit work.
//!
//! - `privacy._audit_row_hash()`: BEFORE INSERT trigger computing `row_hash` (see
//!   `pg_privacy_core::audit` for the encoding).
//! - `privacy._audit_append_only()`: refuses UPDATE/DELETE/TRUNCATE except for audit retention.
//! - [`worker_tick`]: in the worker, one transaction that moves queued read events into the log,
//!   seals what can be sealed, and applies `privacy.audit_retention`.
//! - `audit_verify()`, `audit_digest()`, `audit_flush()`.
//!
//! **When a row can be sealed.** Ids are drawn from a sequence when a row is inserted, but
//! transactions commit in any order: a row with a lower id may become visible after a higher one.
//! Every transaction that draws an id holds a lock on `privacy.audit_log` (ROW EXCLUSIVE, taken
//! before the insert) until it ends. So the worker notes the sequence's last value `S` and the
//! transactions then holding that lock; once all of them have ended, every row with an id up to
//! `S` is committed or never will be, and the rows up to `S` are sealed. Nobody waits for this:
//! the worker checks again at its next flush.

use super::queue;
use crate::error::PrivacyError;
use crate::{elevated, gucs};
use pg_privacy_core::audit::{hex, row_hash, seal_hash, Field, SealHeader, HASH_LEN};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::time::{Duration, Instant};

/// Most rows in one sealed block.
const BLOCK_ROWS: usize = 10_000;
/// Most queued events moved into the log per transaction.
pub const FLUSH_BATCH: usize = 5_000;
/// Most rows removed by one audit retention step (whole blocks; at least one).
const RETENTION_ROWS: i64 = 100_000;
/// How long `audit_flush()` waits for a worker that is not there.
const FLUSH_WAIT_NO_WORKER: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Row hashes

enum Owned {
    Null,
    Int(i64),
    Bytes(Vec<u8>),
    Array(Vec<Option<Vec<u8>>>),
}

/// The columns of an audit row as the hash sees them: every column but `row_hash`, in table
/// order; times and numbers as integers, names as their bytes, text/jsonb/inet as the bytes of
/// their stored (detoasted) value.
unsafe fn owned_fields(
    tupdesc: pg_sys::TupleDesc,
    values: &[pg_sys::Datum],
    nulls: &[bool],
    skip: usize,
) -> Vec<Owned> {
    let natts = (*tupdesc).natts as usize;
    let attrs = (*tupdesc).attrs.as_slice(natts);
    let mut out = Vec::with_capacity(natts);
    for i in 0..natts {
        let att = &attrs[i];
        if att.attisdropped || i == skip {
            continue;
        }
        if nulls[i] {
            out.push(Owned::Null);
            continue;
        }
        let v = values[i];
        out.push(match att.atttypid {
            pg_sys::INT8OID | pg_sys::TIMESTAMPTZOID => Owned::Int(v.value() as i64),
            pg_sys::INT4OID => Owned::Int(v.value() as i32 as i64),
            pg_sys::NAMEOID => Owned::Bytes(
                CStr::from_ptr(v.cast_mut_ptr::<std::ffi::c_char>())
                    .to_bytes()
                    .to_vec(),
            ),
            pg_sys::TEXTARRAYOID => {
                let arr =
                    Vec::<Option<String>>::from_polymorphic_datum(v, false, pg_sys::TEXTARRAYOID)
                        .unwrap_or_default();
                Owned::Array(arr.into_iter().map(|e| e.map(String::into_bytes)).collect())
            }
            _ if att.attlen == -1 => {
                let p = pg_sys::pg_detoast_datum_packed(v.cast_mut_ptr());
                let len = pgrx::varlena::varsize_any_exhdr(p);
                let data = pgrx::varlena::vardata_any(p) as *const u8;
                Owned::Bytes(std::slice::from_raw_parts(data, len).to_vec())
            }
            _ => Owned::Int(v.value() as i64),
        });
    }
    out
}

fn hash_owned(fields: &[Owned]) -> [u8; HASH_LEN] {
    let borrowed: Vec<Field<'_>> = fields
        .iter()
        .map(|f| match f {
            Owned::Null => Field::Null,
            Owned::Int(v) => Field::Int(*v),
            Owned::Bytes(b) => Field::Text(b),
            Owned::Array(a) => Field::TextArray(a.iter().map(|e| e.as_deref()).collect()),
        })
        .collect();
    row_hash(&borrowed)
}

/// The index of `row_hash` in the table's tuple descriptor.
unsafe fn row_hash_index(tupdesc: pg_sys::TupleDesc) -> Option<usize> {
    let natts = (*tupdesc).natts as usize;
    (*tupdesc)
        .attrs
        .as_slice(natts)
        .iter()
        .position(|a| !a.attisdropped && CStr::from_ptr(a.attname.data.as_ptr()) == c"row_hash")
}

/// The recomputed hash of a stored tuple, and the hash stored in it.
unsafe fn tuple_hashes(
    tupdesc: pg_sys::TupleDesc,
    tuple: pg_sys::HeapTuple,
) -> ([u8; HASH_LEN], Option<Vec<u8>>) {
    let natts = (*tupdesc).natts as usize;
    let mut values = vec![pg_sys::Datum::from(0); natts];
    let mut nulls = vec![false; natts];
    pg_sys::heap_deform_tuple(tuple, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
    let skip = row_hash_index(tupdesc).unwrap_or(usize::MAX);
    let computed = hash_owned(&owned_fields(tupdesc, &values, &nulls, skip));
    let stored = (skip != usize::MAX && !nulls[skip]).then(|| {
        let p = pg_sys::pg_detoast_datum_packed(values[skip].cast_mut_ptr());
        let len = pgrx::varlena::varsize_any_exhdr(p);
        std::slice::from_raw_parts(pgrx::varlena::vardata_any(p) as *const u8, len).to_vec()
    });
    (computed, stored)
}

fn trigger_data(fcinfo: pg_sys::FunctionCallInfo, name: &str) -> *mut pg_sys::TriggerData {
    // SAFETY: fcinfo is the call's; context is checked before use.
    unsafe {
        let context = (*fcinfo).context;
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_TriggerData {
            PrivacyError::InvalidParameter(format!("{name} runs only as a trigger")).raise();
        }
        context as *mut pg_sys::TriggerData
    }
}

#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn privacy_audit_row_hash(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let data = trigger_data(fcinfo, "privacy._audit_row_hash()");
    let ev = (*data).tg_event;
    if ev & pg_sys::TRIGGER_EVENT_ROW == 0
        || ev & pg_sys::TRIGGER_EVENT_OPMASK != pg_sys::TRIGGER_EVENT_INSERT
        || ev & pg_sys::TRIGGER_EVENT_TIMINGMASK != pg_sys::TRIGGER_EVENT_BEFORE
    {
        PrivacyError::InvalidParameter(
            "privacy._audit_row_hash() must be a BEFORE INSERT ... FOR EACH ROW trigger".into(),
        )
        .raise();
    }
    let tupdesc = (*(*data).tg_relation).rd_att;
    let Some(idx) = row_hash_index(tupdesc) else {
        PrivacyError::InvalidParameter("the table has no row_hash column".into()).raise();
    };
    let tuple = (*data).tg_trigtuple;
    let (hash, _) = tuple_hashes(tupdesc, tuple);
    let datum = pgrx::IntoDatum::into_datum(&hash[..]).expect("bytea datum");
    let mut cols = [(idx + 1) as i32];
    let mut values = [datum];
    let mut nulls = [false];
    let new = pg_sys::heap_modify_tuple_by_cols(
        tuple,
        tupdesc,
        1,
        cols.as_mut_ptr(),
        values.as_mut_ptr(),
        nulls.as_mut_ptr(),
    );
    pg_sys::Datum::from(new)
}

#[no_mangle]
pub extern "C" fn pg_finfo_privacy_audit_row_hash() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

thread_local! {
    /// Set only while audit retention deletes expired rows.
    static RETENTION_PATH: Cell<bool> = const { Cell::new(false) };
}

#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn privacy_audit_append_only(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let data = trigger_data(fcinfo, "privacy._audit_append_only()");
    let ev = (*data).tg_event & pg_sys::TRIGGER_EVENT_OPMASK;
    let allowed = ev == pg_sys::TRIGGER_EVENT_DELETE && RETENTION_PATH.with(|r| r.get());
    if !allowed {
        let rel = (*(*data).tg_relation).rd_id;
        let name = elevated::qualified_name(rel).unwrap_or_default();
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("{name} is append-only"),
            "Audit rows are removed only by privacy.audit_retention; privacy.audit_verify() \
             detects any other change."
        );
    }
    pg_sys::Datum::from(0)
}

#[no_mangle]
pub extern "C" fn pg_finfo_privacy_audit_append_only() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

// ---------------------------------------------------------------------------------------------
// The worker's tick

thread_local! {
    /// The pending seal horizon: the sequence value and the transactions that held the lock.
    static HORIZON: RefCell<Option<(i64, Vec<pg_sys::VirtualTransactionId>)>> = const { RefCell::new(None) };
    static LAST_RETENTION: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn spi_err(e: pgrx::spi::SpiError) -> ! {
    pgrx::error!("pg_privacy worker: audit: {e}")
}

/// Moves up to one batch of queued events into the log. Returns the positions taken (to mark
/// done after the commit) and how many there were.
pub fn flush_batch() -> Vec<u64> {
    let taken = queue::take(FLUSH_BATCH);
    if taken.events.is_empty() {
        return taken.positions;
    }
    let n = taken.events.len();
    let mut logged_at = Vec::with_capacity(n);
    let mut txid = Vec::with_capacity(n);
    let mut text: [Vec<Option<String>>; 8] = Default::default();
    let mut action = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(n);
    for e in &taken.events {
        logged_at.push(TimestampWithTimeZone::try_from(e.logged_at).ok());
        txid.push(e.txid);
        rows.push(e.rows);
        action.push(e.action.name().to_string());
        for (i, f) in e.fields.iter().enumerate() {
            let s = String::from_utf8_lossy(f).into_owned();
            let v = match i {
                // columns: a JSON array of the names
                6 => {
                    let names: Vec<String> = pg_privacy_core::audit::unpack_names(f)
                        .into_iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect();
                    (!names.is_empty()).then(|| serde_json::Value::from(names).to_string())
                }
                // detail: JSON, marked when something was cut to fit the queue's entry
                7 => {
                    let mut d: serde_json::Value =
                        serde_json::from_str(&s).unwrap_or(serde_json::Value::Null);
                    if e.truncated {
                        if !d.is_object() {
                            d = serde_json::json!({});
                        }
                        d["truncated"] = serde_json::Value::Bool(true);
                    }
                    (!d.is_null()).then(|| d.to_string())
                }
                _ => (!s.is_empty()).then_some(s),
            };
            text[i].push(v);
        }
    }
    let [session_role, current_role, app_user, client_addr, application_name, object, columns, detail] =
        text;
    Spi::run_with_args(
        "INSERT INTO privacy.audit_log (logged_at, txid, session_role, \"current_role\", app_user, \
           client_addr, application_name, action, object, columns, rows, detail) \
         SELECT t.logged_at, t.txid, t.session_role, t.current_role_, t.app_user, t.client_addr::inet, \
                t.application_name, t.action, t.object, \
                CASE WHEN t.columns IS NOT NULL THEN ARRAY(SELECT jsonb_array_elements_text(t.columns::jsonb)) END, \
                t.rows, t.detail::jsonb \
           FROM unnest($1::timestamptz[], $2::bigint[], $3::name[], $4::name[], $5::text[], $6::text[], \
                       $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[]) \
                AS t(logged_at, txid, session_role, current_role_, app_user, client_addr, \
                     application_name, action, object, columns, rows, detail)",
        &[
            logged_at.into(),
            txid.into(),
            session_role.into(),
            current_role.into(),
            app_user.into(),
            client_addr.into(),
            application_name.into(),
            action.into(),
            object.into(),
            columns.into(),
            rows.into(),
            detail.into(),
        ],
    )
    .unwrap_or_else(|e| spi_err(e));
    taken.positions
}

fn audit_log_oid() -> pg_sys::Oid {
    // SAFETY: catalog lookups by name inside a transaction.
    unsafe {
        let nsp = pg_sys::get_namespace_oid(c"privacy".as_ptr(), true);
        pg_sys::get_relname_relid(c"audit_log".as_ptr(), nsp)
    }
}

/// The transactions (other than this one) holding a lock on the audit log that a writer takes.
fn writers() -> Vec<pg_sys::VirtualTransactionId> {
    // SAFETY: GetLockConflicts returns a palloc'd array ending with an invalid id.
    unsafe {
        let mut tag: pg_sys::LOCKTAG = std::mem::zeroed();
        tag.locktag_field1 = pg_sys::MyDatabaseId.to_u32();
        tag.locktag_field2 = audit_log_oid().to_u32();
        tag.locktag_type = pg_sys::LockTagType::LOCKTAG_RELATION as u8;
        tag.locktag_lockmethodid = pg_sys::DEFAULT_LOCKMETHOD as u8;
        let mut count = 0;
        let p = pg_sys::GetLockConflicts(&tag, pg_sys::ShareLock as i32, &mut count);
        let mut out = Vec::new();
        let mut i = 0;
        while !p.is_null() {
            let v = *p.add(i);
            if v.backendId == pg_sys::InvalidBackendId || v.localTransactionId == 0 {
                break;
            }
            out.push(v);
            i += 1;
        }
        out
    }
}

fn ended(v: pg_sys::VirtualTransactionId) -> bool {
    // SAFETY: a conditional lock on the virtual transaction: true once it has ended.
    unsafe { pg_sys::VirtualXactLock(v, false) }
}

/// Seals rows up to the horizon once it is safe. Returns the rows sealed.
pub fn seal_step() -> i64 {
    let (last_sealed, last_block, prev_hash) = Spi::connect(|c| {
        let t = c.select(
            "SELECT s.last_id, s.block_no, s.hash FROM privacy.audit_seals s ORDER BY s.block_no DESC LIMIT 1",
            Some(1),
            &[],
        )?;
        if t.is_empty() {
            return Ok::<_, pgrx::spi::SpiError>((0i64, 0i64, Vec::new()));
        }
        let r = t.first();
        Ok((
            r.get::<i64>(1)?.unwrap_or(0),
            r.get::<i64>(2)?.unwrap_or(0),
            r.get::<Vec<u8>>(3)?.unwrap_or_default(),
        ))
    })
    .unwrap_or_else(|e| spi_err(e));
    let pending = HORIZON.with(|h| h.borrow().clone());
    let horizon = match pending {
        Some((s, vxids)) => {
            if !vxids.iter().all(|v| ended(*v)) {
                return 0;
            }
            HORIZON.with(|h| *h.borrow_mut() = None);
            s
        }
        None => {
            let s = Spi::get_two::<i64, bool>(
                "SELECT last_value, is_called FROM privacy.audit_log_id_seq",
            )
            .unwrap_or_else(|e| spi_err(e));
            let s = match s {
                (Some(v), Some(true)) => v,
                (Some(v), _) => v - 1,
                _ => 0,
            };
            if s <= last_sealed {
                return 0;
            }
            let vxids = writers();
            if !vxids.is_empty() {
                HORIZON.with(|h| *h.borrow_mut() = Some((s, vxids)));
                return 0;
            }
            s
        }
    };
    if horizon <= last_sealed {
        return 0;
    }
    let rows: Vec<(i64, Vec<u8>)> = Spi::connect(|c| {
        c.select(
            "SELECT l.id, coalesce(l.row_hash, '') FROM privacy.audit_log l \
              WHERE l.id > $1 AND l.id <= $2 ORDER BY l.id",
            None,
            &[last_sealed.into(), horizon.into()],
        )
        .map(|t| {
            t.filter_map(|r| Some((r.get::<i64>(1).ok()??, r.get::<Vec<u8>>(2).ok()??)))
                .collect()
        })
    })
    .unwrap_or_else(|e| spi_err(e));
    let mut prev = prev_hash;
    let mut block = last_block;
    let mut sealed = 0i64;
    for chunk in rows.chunks(BLOCK_ROWS) {
        block += 1;
        let header = SealHeader {
            block_no: block,
            first_id: chunk[0].0,
            last_id: chunk[chunk.len() - 1].0,
            row_count: chunk.len() as i64,
            prev_hash: &prev,
        };
        let hash = seal_hash(&header, chunk.iter().map(|(id, h)| (*id, h.as_slice())));
        Spi::run_with_args(
            "INSERT INTO privacy.audit_seals (block_no, first_id, last_id, row_count, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                block.into(),
                header.first_id.into(),
                header.last_id.into(),
                (chunk.len() as i32).into(),
                prev.clone().into(),
                hash.to_vec().into(),
            ],
        )
        .unwrap_or_else(|e| spi_err(e));
        prev = hash.to_vec();
        sealed += chunk.len() as i64;
    }
    sealed
}

/// Removes sealed blocks older than `privacy.audit_retention` and records the cut. Returns the
/// rows removed.
pub fn retention_step() -> i64 {
    let minutes = gucs::AUDIT_RETENTION.get();
    if minutes <= 0 {
        return 0;
    }
    // At most once a naptime.
    let every = Duration::from_secs(gucs::WORKER_NAPTIME.get().max(1) as u64);
    if LAST_RETENTION
        .with(|l| l.get())
        .is_some_and(|t| t.elapsed() < every)
    {
        return 0;
    }

    // The oldest blocks sealed before the cutoff, at most RETENTION_ROWS rows a step (at least
    // one block).
    let target = Spi::get_two_with_args::<i64, i64>(
        "WITH cut AS (SELECT coalesce(max((l.detail->>'through_block')::bigint), 0) AS b \
                        FROM privacy.audit_log l WHERE l.action = 'AUDIT_RETENTION'), \
              first AS (SELECT s.first_id FROM privacy.audit_seals s, cut WHERE s.block_no = cut.b + 1) \
         SELECT s.block_no, s.last_id FROM privacy.audit_seals s, cut, first \
          WHERE s.block_no > cut.b \
            AND (s.block_no = cut.b + 1 OR s.last_id < first.first_id + $2) \
            AND s.sealed_at < pg_catalog.now() - make_interval(mins => $1) \
          ORDER BY s.block_no DESC LIMIT 1",
        &[minutes.into(), RETENTION_ROWS.into()],
    );
    let (block, last_id) = match target {
        Ok((Some(b), Some(l))) => (b, l),
        Ok(_) | Err(pgrx::spi::SpiError::InvalidPosition) => {
            // Nothing due: look again a naptime later (while blocks are due, every tick).
            LAST_RETENTION.with(|l| l.set(Some(Instant::now())));
            return 0;
        }
        Err(e) => spi_err(e),
    };
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            RETENTION_PATH.with(|r| r.set(false));
        }
    }
    let removed = {
        RETENTION_PATH.with(|r| r.set(true));
        let _reset = Reset;
        Spi::get_one_with_args::<i64>(
            "WITH d AS (DELETE FROM privacy.audit_log WHERE id <= $1 RETURNING 1) SELECT count(*) FROM d",
            &[last_id.into()],
        )
        .unwrap_or_else(|e| spi_err(e))
        .unwrap_or(0)
    };
    let detail = format!(
        "removed {removed} audit row(s) through block {block} (id {last_id}), older than {minutes} minute(s)"
    );
    super::admin_event_with(
        "AUDIT_RETENTION",
        Some("privacy.audit_log"),
        serde_json::json!({ "event": detail, "through_block": block, "through_id": last_id, "rows": removed }),
        Some(removed),
    );
    removed
}

/// Inside the worker's transaction: flush a batch (when `flush`), seal, apply retention. Returns the events
/// flushed; `positions` gets their queue positions (marked done after the commit).
pub fn worker_tick(flush: bool, positions: &RefCell<Vec<u64>>) -> usize {
    if !super::log_exists() {
        return 0;
    }
    let taken = if flush { flush_batch() } else { Vec::new() };
    let flushed = taken.len();
    *positions.borrow_mut() = taken;
    seal_step();
    retention_step();
    flushed
}

// ---------------------------------------------------------------------------------------------
// SQL functions

/// Waits until the read events queued before the call (by any session of this database) are in
/// privacy.audit_log; returns how many there were.
#[pg_extern(volatile, parallel_unsafe)]
fn audit_flush() -> i64 {
    super::hook::flush_counters(false);
    if !queue::available() {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "the audit queue needs pg_privacy in shared_preload_libraries",
            "Without it reads and decrypts are not audited; see docs/installation.md."
        );
    }
    let end = queue::end_now();
    let n = queue::pending_count_before(end);
    // SAFETY: set for every backend connected to a database.
    let database = unsafe { pg_sys::MyDatabaseId }.to_u32();
    let mut no_worker_since: Option<Instant> = None;
    let mut progress = (n, Instant::now());
    loop {
        let left = queue::pending_count_before(end);
        if left == 0 {
            break;
        }
        if left < progress.0 {
            progress = (left, Instant::now());
        } else if progress.1.elapsed() >= FLUSH_WAIT_NO_WORKER {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                "the audit queue of this database is not being flushed",
                "The pg_privacy worker logs why (SQLSTATE) in the server log."
            );
        }
        if queue::request_flush(database) {
            no_worker_since = None;
        } else if no_worker_since.get_or_insert_with(Instant::now).elapsed() >= FLUSH_WAIT_NO_WORKER
        {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                "no pg_privacy worker is flushing the audit queue of this database",
                "Check privacy.status()->'worker' and max_worker_processes."
            );
        }
        pgrx::check_for_interrupts!();
        queue::nap(Duration::from_millis(5));
    }
    n as i64
}

/// The latest seal, to keep outside the database.
#[pg_extern(stable, parallel_safe)]
fn audit_digest() -> String {
    let row = Spi::connect(|c| {
        let t = c.select(
            "SELECT s.block_no, s.last_id, s.hash, s.sealed_at::text FROM privacy.audit_seals s \
              ORDER BY s.block_no DESC LIMIT 1",
            Some(1),
            &[],
        )?;
        if t.is_empty() {
            return Ok::<_, pgrx::spi::SpiError>(None);
        }
        let r = t.first();
        Ok(Some((
            r.get::<i64>(1)?.unwrap_or(0),
            r.get::<i64>(2)?.unwrap_or(0),
            r.get::<Vec<u8>>(3)?.unwrap_or_default(),
        )))
    })
    .unwrap_or_else(|e| pgrx::error!("pg_privacy: {e}"));
    match row {
        Some((block, last_id, hash)) => {
            format!(
                "pg_privacy-audit-v1 block {block} last_id {last_id} sha256 {}",
                hex(&hash)
            )
        }
        None => "pg_privacy-audit-v1 block 0 (nothing sealed yet)".to_string(),
    }
}

struct SealRow {
    block_no: i64,
    first_id: i64,
    last_id: i64,
    row_count: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

type Verdict = (bool, i64, Option<i64>, String);

fn bad(rows: i64, id: i64, detail: String) -> Verdict {
    (false, rows, Some(id), detail)
}

/// Recomputes every row hash and every seal; names the first row or block that does not match.
#[pg_extern(stable, parallel_safe)]
fn audit_verify() -> TableIterator<
    'static,
    (
        name!(ok, bool),
        name!(rows_checked, i64),
        name!(first_bad_id, Option<i64>),
        name!(detail, String),
    ),
> {
    let v = verify().unwrap_or_else(|e| pgrx::error!("pg_privacy: {e}"));
    TableIterator::once(v)
}

fn verify() -> Result<Verdict, pgrx::spi::SpiError> {
    Spi::connect(|c| {
        let seals: Vec<SealRow> = c
            .select(
                "SELECT block_no, first_id, last_id, row_count, prev_hash, hash \
                   FROM privacy.audit_seals ORDER BY block_no",
                None,
                &[],
            )?
            .filter_map(|r| {
                Some(SealRow {
                    block_no: r.get::<i64>(1).ok()??,
                    first_id: r.get::<i64>(2).ok()??,
                    last_id: r.get::<i64>(3).ok()??,
                    row_count: r.get::<i32>(4).ok()?? as i64,
                    prev_hash: r.get::<Vec<u8>>(5).ok()??,
                    hash: r.get::<Vec<u8>>(6).ok()??,
                })
            })
            .collect();
        let cut_block = c
            .select(
                "SELECT coalesce(max((detail->>'through_block')::bigint), 0) FROM privacy.audit_log \
                  WHERE action = 'AUDIT_RETENTION'",
                Some(1),
                &[],
            )?
            .first()
            .get_one::<i64>()?
            .unwrap_or(0);
        // The chain of seals.
        let mut prev: Option<&SealRow> = None;
        for s in &seals {
            let ok = match prev {
                None => s.block_no == 1 && s.prev_hash.is_empty(),
                Some(p) => {
                    s.block_no == p.block_no + 1 && s.prev_hash == p.hash && s.first_id > p.last_id
                }
            };
            if !ok || s.first_id > s.last_id {
                return Ok(bad(
                    0,
                    s.first_id,
                    format!(
                        "the seal of block {} does not follow the previous block (a seal was changed, added or removed)",
                        s.block_no
                    ),
                ));
            }
            prev = Some(s);
        }
        let cut_id = seals
            .iter()
            .find(|s| s.block_no == cut_block)
            .map(|s| s.last_id)
            .unwrap_or(0);
        if cut_block > 0 && cut_id == 0 {
            return Ok(bad(
                0,
                0,
                format!(
                    "audit retention recorded a cut through block {cut_block}, which has no seal"
                ),
            ));
        }
        let live: Vec<&SealRow> = seals.iter().filter(|s| s.block_no > cut_block).collect();
        // Rows in id order, in pages.
        let mut checked = 0i64;
        let mut bi = 0usize;
        let mut in_block: Vec<(i64, [u8; HASH_LEN])> = Vec::new();
        let finish_block = |s: &SealRow,
                            rows: &[(i64, [u8; HASH_LEN])],
                            checked: i64|
         -> Option<Verdict> {
            if rows.len() as i64 != s.row_count {
                return Some(bad(
                    checked,
                    rows.first().map(|r| r.0).unwrap_or(s.first_id),
                    format!(
                        "block {} (ids {}..{}) was sealed with {} rows and now has {}: rows were deleted or added",
                        s.block_no, s.first_id, s.last_id, s.row_count, rows.len()
                    ),
                ));
            }
            let header = SealHeader {
                block_no: s.block_no,
                first_id: s.first_id,
                last_id: s.last_id,
                row_count: s.row_count,
                prev_hash: &s.prev_hash,
            };
            let h = seal_hash(&header, rows.iter().map(|(id, h)| (*id, &h[..])));
            (h[..] != s.hash[..]).then(|| {
                bad(
                    checked,
                    s.first_id,
                    format!("block {} does not match its seal", s.block_no),
                )
            })
        };
        let mut after = cut_id;
        loop {
            let page = c.select(
                "SELECT l.* FROM privacy.audit_log l WHERE l.id > $1 ORDER BY l.id LIMIT 10000",
                None,
                &[after.into()],
            )?;
            if page.is_empty() {
                break;
            }
            // SAFETY: the SPI tuple table of this select, read before the next one.
            let (tupdesc, tuples) = unsafe {
                let tt = pg_sys::SPI_tuptable;
                let n = (*tt).numvals as usize;
                (
                    (*tt).tupdesc,
                    std::slice::from_raw_parts((*tt).vals, n).to_vec(),
                )
            };
            // SAFETY: the attribute number of id in the result (1).
            for tuple in tuples {
                let id = unsafe {
                    let mut isnull = false;
                    let d = pg_sys::heap_getattr(tuple, 1, tupdesc, &mut isnull);
                    d.value() as i64
                };
                after = id;
                checked += 1;
                // SAFETY: a tuple of the audit log with its descriptor.
                let (computed, stored) = unsafe { tuple_hashes(tupdesc, tuple) };
                if stored.as_deref() != Some(&computed[..]) {
                    return Ok(bad(
                        checked,
                        id,
                        format!("row {id} does not match its row_hash: it was changed after it was written"),
                    ));
                }
                while bi < live.len() && id > live[bi].last_id {
                    if let Some(v) = finish_block(live[bi], &in_block, checked) {
                        return Ok(v);
                    }
                    in_block.clear();
                    bi += 1;
                }
                if bi < live.len() {
                    if id < live[bi].first_id {
                        return Ok(bad(
                            checked,
                            id,
                            format!(
                                "row {id} lies between sealed blocks: it was added after sealing"
                            ),
                        ));
                    }
                    in_block.push((id, computed));
                }
            }
        }
        while bi < live.len() {
            if let Some(v) = finish_block(live[bi], &in_block, checked) {
                return Ok(v);
            }
            in_block.clear();
            bi += 1;
        }
        let sealed_rows: i64 = live.iter().map(|s| s.row_count).sum();
        let last = seals.last().map(|s| s.block_no).unwrap_or(0);
        let mut detail = format!(
            "{checked} rows checked: {sealed_rows} in {} sealed block(s) match their seals (latest block {last}), {} not sealed yet match their row hashes",
            live.len(),
            checked - sealed_rows
        );
        if cut_block > 0 {
            detail.push_str(&format!(
                "; blocks 1..{cut_block} were removed by audit retention (their seals still chain)"
            ));
        }
        Ok((true, checked, None, detail))
    })
}
