//! Read auditing without triggers.
//!
//! - An `ExecutorEnd` hook looks at the range table of each finished statement: a table audited
//!   with `reads => true` whose audited columns the statement selected gives a SELECT event
//!   (object, the columns read, rows = rows the statement returned or changed). A masked view
//!   read by a role that a rule unmasks gives an UNMASK event.
//! - The ProcessUtility hook (src/worker.rs) calls [`copy_before`] and [`copy_after`] for
//!   `COPY table TO`, which reads without the executor.
//! - Decrypts count themselves per key ([`note_decrypt`]); the counts become one DECRYPT (or
//!   DECRYPT_DENIED) event per key at the end of the top-level statement, or at the end of the
//!   transaction (also when it aborts: a refused decrypt that raised is still recorded).
//!
//! Events go to the shared-memory queue ([`super::queue`]), not to the transaction.

use super::queue::{self, Action, Event, FIELDS};
use super::{txid_if_any, who, Who};
use crate::elevated;
use pg_privacy_core::audit::pack_names;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CStr;

/// What is read-audited: table -> audited column numbers (None: all columns).
type ReadConfig = HashMap<pg_sys::Oid, Option<Vec<i16>>>;

thread_local! {
    static CONFIG: RefCell<Option<std::rc::Rc<ReadConfig>>> = const { RefCell::new(None) };
    static CONFIG_SCOPE: Cell<Option<u32>> = const { Cell::new(None) };
    static CONFIG_TABLE: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    /// Executor nesting: 1 inside a top-level statement. Errors skip ExecutorEnd, so the depth
    /// a subtransaction started at is restored when it aborts (savepoints, exception blocks).
    static DEPTH: Cell<i32> = const { Cell::new(0) };
    static SUBXACT_DEPTHS: RefCell<Vec<(pg_sys::SubTransactionId, i32)>> = const { RefCell::new(Vec::new()) };
    /// Decrypts of the current statement, per key, outcome and role: the event (made at the
    /// first decrypt, so nothing needs the catalogs when a transaction aborts) and its count.
    static DECRYPTS: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    /// Whether the masking rules exist here (UNMASK events need them).
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

static mut PREV_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREV_EXECUTOR_RUN: pg_sys::ExecutorRun_hook_type = None;
static mut PREV_EXECUTOR_END: pg_sys::ExecutorEnd_hook_type = None;

pub fn init() {
    // SAFETY: called once in the postmaster while preload libraries load; previous hooks are
    // kept and called.
    unsafe {
        PREV_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
        PREV_EXECUTOR_RUN = pg_sys::ExecutorRun_hook;
        pg_sys::ExecutorRun_hook = Some(executor_run);
        PREV_EXECUTOR_END = pg_sys::ExecutorEnd_hook;
        pg_sys::ExecutorEnd_hook = Some(executor_end);
        pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut());
    }
}

extern "C-unwind" fn relcache_changed(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    if relid == pg_sys::InvalidOid || CONFIG_TABLE.with(|t| t.get()) == relid {
        CONFIG.with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = None;
            }
        });
    }
}

extern "C-unwind" fn namespace_changed(_arg: pg_sys::Datum, _cacheid: i32, _hash: u32) {
    // CREATE or DROP SCHEMA privacy (CREATE/DROP EXTENSION): look again.
    CONFIG.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            *c = None;
        }
    });
}

static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The read-audit settings of this database (empty where pg_privacy is not installed).
fn config() -> std::rc::Rc<ReadConfig> {
    if !REGISTERED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: registers callbacks for the life of the backend.
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(relcache_changed), pg_sys::Datum::from(0));
            pg_sys::CacheRegisterSyscacheCallback(
                pg_sys::SysCacheIdentifier::NAMESPACEOID as i32,
                Some(namespace_changed),
                pg_sys::Datum::from(0),
            );
        }
    }
    if crate::xact::expired(CONFIG_SCOPE.with(|s| s.get())) {
        CONFIG.with(|c| *c.borrow_mut() = None);
    }
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return c;
    }
    CONFIG_SCOPE.with(|s| s.set(crate::xact::scope_of_load()));
    let loaded = load_config();
    CONFIG.with(|c| *c.borrow_mut() = Some(loaded.clone()));
    loaded
}

fn load_config() -> std::rc::Rc<ReadConfig> {
    // SAFETY: catalog lookups by name inside a transaction.
    let table = unsafe {
        let nsp = pg_sys::get_namespace_oid(c"privacy".as_ptr(), true);
        if nsp == pg_sys::InvalidOid {
            pg_sys::InvalidOid
        } else {
            pg_sys::get_relname_relid(c"audited_tables".as_ptr(), nsp)
        }
    };
    CONFIG_TABLE.with(|t| t.set(table));
    let mut map = ReadConfig::new();
    if table == pg_sys::InvalidOid {
        return std::rc::Rc::new(map);
    }
    let rows: Vec<(pg_sys::Oid, Option<Vec<i16>>)> = elevated::run(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT a.tbl::oid, CASE WHEN a.columns IS NULL THEN NULL ELSE \
                       ARRAY(SELECT t.attnum FROM pg_attribute t \
                              WHERE t.attrelid = a.tbl AND t.attname = ANY (a.columns) \
                                AND t.attnum > 0 AND NOT t.attisdropped) END \
                       FROM privacy.audited_tables a WHERE a.reads",
                    None,
                    &[],
                )
                .map(|t| {
                    t.filter_map(|r| {
                        let oid = r.get::<pg_sys::Oid>(1).ok().flatten()?;
                        let cols = r.get::<Vec<i16>>(2).ok().flatten();
                        Some((oid, cols))
                    })
                    .collect()
                })
        })
    })
    .unwrap_or_default();
    map.extend(rows);
    std::rc::Rc::new(map)
}

struct Pending {
    key: u32,
    granted: bool,
    user: pg_sys::Oid,
    event: Event,
}

/// Counts one decrypt (or refusal) with the key `id` named `name` for the current statement.
pub fn note_decrypt(id: u32, name: &str, granted: bool) {
    if !queue::available() {
        return;
    }
    let user = elevated::caller();
    let counted = DECRYPTS.with(|d| {
        let mut d = d.borrow_mut();
        match d
            .iter_mut()
            .find(|p| p.key == id && p.granted == granted && p.user == user)
        {
            Some(p) => {
                *p.event.rows.get_or_insert(0) += 1;
                true
            }
            None => false,
        }
    });
    if !counted {
        let action = if granted {
            Action::Decrypt
        } else {
            Action::DecryptDenied
        };
        let event = event(
            action,
            &who(user),
            &format!("key {name}"),
            &[],
            Some(1),
            None,
        );
        DECRYPTS.with(|d| {
            d.borrow_mut().push(Pending {
                key: id,
                granted,
                user,
                event,
            })
        });
    }
}

fn event(
    action: Action,
    w: &Who,
    object: &str,
    columns: &[String],
    rows: Option<i64>,
    detail: Option<String>,
) -> Event {
    let s = |o: &Option<String>| o.as_deref().unwrap_or("").as_bytes().to_vec();
    let fields: [Vec<u8>; FIELDS] = [
        w.session_role.as_bytes().to_vec(),
        w.current_role.as_bytes().to_vec(),
        s(&w.app_user),
        s(&w.client_addr),
        s(&w.application_name),
        object.as_bytes().to_vec(),
        pack_names(columns),
        detail.unwrap_or_default().into_bytes(),
    ];
    Event {
        action,
        // SAFETY: reads the clock.
        logged_at: unsafe { pg_sys::GetCurrentTimestamp() },
        txid: txid_if_any(),
        rows,
        fields,
        truncated: false,
    }
}

/// Turns this backend's decrypt counts into events (one per key, outcome and role). When the
/// transaction aborts (`aborting`), nothing may wait or raise: a full queue then counts the
/// events as lost.
pub fn flush_counters(aborting: bool) {
    let pending: Vec<Pending> = DECRYPTS.with(|d| std::mem::take(&mut *d.borrow_mut()));
    for p in pending {
        if aborting {
            queue::push_nowait(&p.event);
        } else {
            queue::push(&p.event);
        }
    }
}

/// Read events of statements that are running, by query descriptor: pushed at ExecutorEnd
/// with the rows of every run (each FETCH of a cursor is a run), or when the (sub)transaction
/// aborts with the rows so far (a cursor still open at ROLLBACK, a statement that failed).
struct Running {
    query: usize,
    subxact: pg_sys::SubTransactionId,
    rows: u64,
    events: Vec<Event>,
}

thread_local! {
    static RUNNING: RefCell<Vec<Running>> = const { RefCell::new(Vec::new()) };
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, eflags: i32) {
    match PREV_EXECUTOR_START {
        Some(prev) => prev(query, eflags),
        None => pg_sys::standard_ExecutorStart(query, eflags),
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    if !IN_HOOK.with(|h| h.get()) && pg_sys::ParallelWorkerNumber < 0 {
        IN_HOOK.with(|h| h.set(true));
        let events = PgTryBuilder::new(|| with_snapshot(|| collect_reads(query, eflags)))
            .finally(|| IN_HOOK.with(|h| h.set(false)))
            .execute();
        if !events.is_empty() {
            let subxact = pg_sys::GetCurrentSubTransactionId();
            RUNNING.with(|r| {
                r.borrow_mut().push(Running {
                    query: query as usize,
                    subxact,
                    rows: 0,
                    events,
                })
            });
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_run(
    query: *mut pg_sys::QueryDesc,
    direction: pg_sys::ScanDirection::Type,
    count: u64,
    execute_once: bool,
) {
    match PREV_EXECUTOR_RUN {
        Some(prev) => prev(query, direction, count, execute_once),
        None => pg_sys::standard_ExecutorRun(query, direction, count, execute_once),
    }
    let estate = (*query).estate;
    if !estate.is_null() {
        let n = (*estate).es_processed;
        RUNNING.with(|r| {
            if let Some(run) = r
                .borrow_mut()
                .iter_mut()
                .find(|x| x.query == query as usize)
            {
                run.rows += n;
            }
        });
    }
}

/// Pushes the read events of finished statements.
fn push_reads(runs: Vec<Running>, aborting: bool) {
    for run in runs {
        for mut e in run.events {
            e.rows = Some(run.rows as i64);
            if aborting {
                queue::push_nowait(&e);
            } else {
                queue::push(&e);
            }
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_end(query: *mut pg_sys::QueryDesc) {
    let done: Vec<Running> = RUNNING.with(|r| {
        let mut r = r.borrow_mut();
        match r.iter().position(|x| x.query == query as usize) {
            Some(i) => vec![r.remove(i)],
            None => Vec::new(),
        }
    });
    match PREV_EXECUTOR_END {
        Some(prev) => prev(query),
        None => pg_sys::standard_ExecutorEnd(query),
    }
    push_reads(done, false);
    let depth = DEPTH.with(|d| {
        let v = (d.get() - 1).max(0);
        d.set(v);
        v
    });
    if depth == 0 {
        flush_counters(false);
    }
}

/// Column names of `relid` for the attribute numbers set in `cols` (offset by
/// FirstLowInvalidHeapAttributeNumber), limited to `audited` (None: all). Whole-row references
/// (attribute 0) count as every audited column.
unsafe fn selected_columns(
    relid: pg_sys::Oid,
    cols: *mut pg_sys::Bitmapset,
    audited: Option<&[i16]>,
) -> Vec<String> {
    let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
    let mut attnums: Vec<i16> = Vec::new();
    let mut whole_row = false;
    let mut x = -1;
    loop {
        x = pg_sys::bms_next_member(cols, x);
        if x < 0 {
            break;
        }
        let attnum = (x + offset) as i16;
        if attnum == 0 {
            whole_row = true;
        } else if attnum > 0 {
            attnums.push(attnum);
        }
    }
    if whole_row {
        attnums = live_columns(relid).into_iter().map(|(a, _)| a).collect();
    }
    attnums
        .into_iter()
        .filter(|a| audited.is_none_or(|list| list.contains(a)))
        .filter_map(|a| {
            let p = pg_sys::get_attname(relid, a, true);
            (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
        })
        .collect()
}

/// The columns (attribute numbers, by table) that a view's selected columns are computed from:
/// the variables of the view's target entries for those columns.
unsafe fn view_reads(
    view: pg_sys::Oid,
    rte: *mut pg_sys::RangeTblEntry,
) -> Vec<(pg_sys::Oid, i16)> {
    let mut out = Vec::new();
    let rel = pg_sys::RelationIdGetRelation(view);
    if rel.is_null() {
        return out;
    }
    let rules = (*rel).rd_rules;
    if !rules.is_null() && (*rules).numLocks > 0 {
        let rule = *(*rules).rules;
        let actions = pgrx::PgList::<pg_sys::Query>::from_pg((*rule).actions);
        if let Some(q) = actions.get_ptr(0) {
            let rtable = pgrx::PgList::<pg_sys::RangeTblEntry>::from_pg((*q).rtable);
            let targets = pgrx::PgList::<pg_sys::TargetEntry>::from_pg((*q).targetList);
            let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
            let mut x = -1;
            loop {
                x = pg_sys::bms_next_member((*rte).selectedCols, x);
                if x < 0 {
                    break;
                }
                let attnum = x + offset;
                // Whole-row: every column of the view.
                let wanted: Vec<usize> = if attnum == 0 {
                    (1..=targets.len()).collect()
                } else if attnum > 0 {
                    vec![attnum as usize]
                } else {
                    Vec::new()
                };
                for resno in wanted {
                    let Some(te) = targets.get_ptr(resno - 1) else {
                        continue;
                    };
                    let flags = (pg_sys::PVC_RECURSE_AGGREGATES
                        | pg_sys::PVC_RECURSE_WINDOWFUNCS
                        | pg_sys::PVC_RECURSE_PLACEHOLDERS) as i32;
                    let vars = pg_sys::pull_var_clause((*te).expr as *mut pg_sys::Node, flags);
                    for v in pgrx::PgList::<pg_sys::Var>::from_pg(vars).iter_ptr() {
                        if (*v).varlevelsup != 0 || (*v).varno < 1 {
                            continue;
                        }
                        if let Some(src) = rtable.get_ptr((*v).varno as usize - 1) {
                            if (*src).rtekind == pg_sys::RTEKind::RTE_RELATION {
                                out.push(((*src).relid, (*v).varattno));
                            }
                        }
                    }
                }
            }
        }
    }
    pg_sys::RelationClose(rel);
    out
}

/// The read events of a statement about to run (rows are filled in as it runs).
unsafe fn collect_reads(query: *mut pg_sys::QueryDesc, eflags: i32) -> Vec<Event> {
    let mut events = Vec::new();
    let stmt = (*query).plannedstmt;
    if stmt.is_null() || eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as i32 != 0 {
        return events;
    }
    let cfg = config();
    let rtable = pgrx::PgList::<pg_sys::RangeTblEntry>::from_pg((*stmt).rtable);
    let mut w: Option<Who> = None;
    // Views read: what their selected columns are computed from. A table read through a view
    // (checked as the view's owner) lists every column the view's definition uses; the view's
    // entries say which of them the statement read.
    let mut through_views: Vec<(pg_sys::Oid, i16)> = Vec::new();
    let mut unmasker: Option<bool> = None;
    let audited_here = !cfg.is_empty()
        && rtable.iter_ptr().any(|r| {
            (*r).rtekind == pg_sys::RTEKind::RTE_RELATION && cfg.contains_key(&(*r).relid)
        });
    for rte in rtable.iter_ptr() {
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION
            || (*rte).relkind != pg_sys::RELKIND_VIEW as std::ffi::c_char
            || (*rte).requiredPerms & pg_sys::ACL_SELECT == 0
        {
            continue;
        }
        // Only worth the work when a read-audited table is in the statement.
        if audited_here {
            through_views.extend(view_reads((*rte).relid, rte));
        }
        // A masked view (by namespace: two cache lookups), read by a role some rule unmasks.
        let masked = pg_sys::get_rel_namespace((*rte).relid)
            == pg_sys::get_namespace_oid(c"masked".as_ptr(), true);
        if masked && *unmasker.get_or_insert_with(crate::masking::policy::may_unmask_anything) {
            if let Some((tbl, cols)) = masked_view_columns((*rte).relid, rte) {
                if let Some(e) = unmask_event((*rte).relid, tbl, &cols, &mut w) {
                    events.push(e);
                }
            }
        }
    }
    for rte in rtable.iter_ptr() {
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION
            || (*rte).requiredPerms & pg_sys::ACL_SELECT == 0
            || (*rte).relkind == pg_sys::RELKIND_VIEW as std::ffi::c_char
        {
            continue;
        }
        // The target of an INSERT, UPDATE or DELETE: audited as a change by the table's
        // triggers (its WHERE reads are part of the change).
        if (*rte).requiredPerms & (pg_sys::ACL_INSERT | pg_sys::ACL_UPDATE | pg_sys::ACL_DELETE)
            != 0
        {
            continue;
        }
        let relid = (*rte).relid;
        let Some(audited) = cfg.get(&relid) else {
            continue;
        };
        let mut columns = selected_columns(relid, (*rte).selectedCols, audited.as_deref());
        if (*rte).checkAsUser != pg_sys::InvalidOid
            && through_views.iter().any(|(t, _)| *t == relid)
        {
            let read: Vec<String> = through_views
                .iter()
                .filter(|(t, a)| *t == relid && *a > 0)
                .filter_map(|(_, a)| {
                    let p = pg_sys::get_attname(relid, *a, true);
                    (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
                })
                .collect();
            let whole_row = through_views.iter().any(|(t, a)| *t == relid && *a == 0);
            if !whole_row {
                columns.retain(|c| read.contains(c));
            }
        }
        if columns.is_empty() {
            continue;
        }
        let Some(object) = elevated::qualified_name(relid) else {
            continue;
        };
        let who = w.get_or_insert_with(|| who(elevated::caller()));
        events.push(event(Action::Select, who, &object, &columns, Some(0), None));
    }
    events
}

/// The one table a view reads, from its rewrite rule (a masked view reads exactly one).
unsafe fn view_base_table(view: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let rel = pg_sys::RelationIdGetRelation(view);
    if rel.is_null() {
        return None;
    }
    let mut found = None;
    let rules = (*rel).rd_rules;
    if !rules.is_null() && (*rules).numLocks > 0 {
        let rule = *(*rules).rules;
        let actions = pgrx::PgList::<pg_sys::Query>::from_pg((*rule).actions);
        if let Some(q) = actions.get_ptr(0) {
            let rtable = pgrx::PgList::<pg_sys::RangeTblEntry>::from_pg((*q).rtable);
            let tables: Vec<pg_sys::Oid> = rtable
                .iter_ptr()
                .filter(|r| (**r).rtekind == pg_sys::RTEKind::RTE_RELATION && (**r).relid != view)
                .map(|r| (*r).relid)
                .collect();
            if tables.len() == 1 {
                found = Some(tables[0]);
            }
        }
    }
    pg_sys::RelationClose(rel);
    found
}

/// For a masked view (the caller checked): its table and the columns the statement selected
/// from the view.
unsafe fn masked_view_columns(
    view: pg_sys::Oid,
    rte: *mut pg_sys::RangeTblEntry,
) -> Option<(pg_sys::Oid, Vec<String>)> {
    let tbl = view_base_table(view)?;
    Some((tbl, selected_columns(view, (*rte).selectedCols, None)))
}

/// A read of a masked view by a role that sees some of the columns it read unmasked.
unsafe fn unmask_event(
    view: pg_sys::Oid,
    tbl: pg_sys::Oid,
    columns: &[String],
    w: &mut Option<Who>,
) -> Option<Event> {
    let unmasked = crate::masking::policy::unmasked_columns(tbl, columns);
    if unmasked.is_empty() {
        return None;
    }
    let object = elevated::qualified_name(tbl)?;
    let view_name = elevated::qualified_name(view).unwrap_or_default();
    let detail = serde_json::json!({ "view": view_name }).to_string();
    let who = w.get_or_insert_with(|| who(elevated::caller()));
    Some(event(
        Action::Unmask,
        who,
        &object,
        &unmasked,
        Some(0),
        Some(detail),
    ))
}

#[pg_guard]
unsafe extern "C-unwind" fn xact_callback(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PARALLEL_PRE_COMMIT | XACT_EVENT_PRE_PREPARE => {
            DEPTH.with(|d| d.set(0));
            SUBXACT_DEPTHS.with(|s| s.borrow_mut().clear());
            flush_counters(false);
        }
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
            DEPTH.with(|d| d.set(0));
            SUBXACT_DEPTHS.with(|s| s.borrow_mut().clear());
            // Reads of statements (and cursors) that never reached ExecutorEnd still happened.
            let running = RUNNING.with(|r| std::mem::take(&mut *r.borrow_mut()));
            push_reads(running, true);
            // A refused decrypt that raised is still recorded: its count is pushed here.
            flush_counters(true);
        }
        _ => {}
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn subxact_callback(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::SubXactEvent::*;
    match event {
        SUBXACT_EVENT_START_SUB => {
            let depth = DEPTH.with(|d| d.get());
            SUBXACT_DEPTHS.with(|s| s.borrow_mut().push((my_subid, depth)));
        }
        SUBXACT_EVENT_COMMIT_SUB | SUBXACT_EVENT_ABORT_SUB => {
            let saved = SUBXACT_DEPTHS.with(|s| {
                let mut s = s.borrow_mut();
                let at = s.iter().rposition(|(id, _)| *id == my_subid)?;
                let depth = s[at].1;
                s.truncate(at);
                Some(depth)
            });
            if event == SUBXACT_EVENT_ABORT_SUB {
                if let Some(depth) = saved {
                    DEPTH.with(|d| d.set(depth));
                }
                let running: Vec<Running> = RUNNING.with(|r| {
                    let mut r = r.borrow_mut();
                    let (gone, keep): (Vec<Running>, Vec<Running>) = std::mem::take(&mut *r)
                        .into_iter()
                        .partition(|x| x.subxact == my_subid);
                    *r = keep;
                    gone
                });
                push_reads(running, true);
            }
        }
        _ => {}
    }
}

/// Called by the ProcessUtility hook (src/worker.rs) after a utility statement ran, with what
/// [`copy_before`] found: the read event of a `COPY table TO` of a read-audited table.
pub unsafe fn copy_after(
    copy: Option<(pg_sys::Oid, Option<Vec<String>>)>,
    qc: *mut pg_sys::QueryCompletion,
) {
    if let Some((relid, attlist)) = copy {
        with_snapshot(|| note_copy(relid, attlist, qc));
    }
}

/// Runs `f` with an active snapshot: the caches it may load read tables with SPI, and at
/// ExecutorEnd or after a utility statement the statement's snapshot is already gone.
unsafe fn with_snapshot<T>(f: impl FnOnce() -> T) -> T {
    if pg_sys::ActiveSnapshotSet() || !pg_sys::IsTransactionState() {
        return f();
    }
    pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    let r = f();
    pg_sys::PopActiveSnapshot();
    r
}

unsafe fn note_copy(
    relid: pg_sys::Oid,
    attlist: Option<Vec<String>>,
    qc: *mut pg_sys::QueryCompletion,
) {
    {
        let cfg = config();
        if let Some(audited) = cfg.get(&relid) {
            let wanted: Vec<String> = match attlist {
                Some(names) => names,
                // Every column.
                None => live_columns(relid).into_iter().map(|(_, n)| n).collect(),
            };
            let columns: Vec<String> = wanted
                .into_iter()
                .filter(|n| match audited {
                    None => true,
                    Some(list) => {
                        let c = std::ffi::CString::new(n.as_str()).unwrap_or_default();
                        list.contains(&pg_sys::get_attnum(relid, c.as_ptr()))
                    }
                })
                .collect();
            if !columns.is_empty() {
                if let Some(object) = elevated::qualified_name(relid) {
                    let rows = if qc.is_null() {
                        None
                    } else {
                        Some((*qc).nprocessed as i64)
                    };
                    let detail = serde_json::json!({ "statement": "COPY" }).to_string();
                    queue::push(&event(
                        Action::Select,
                        &who(elevated::caller()),
                        &object,
                        &columns,
                        rows,
                        Some(detail),
                    ));
                }
            }
        }
    }
}

/// The columns of `relid` that are not dropped: number and name.
unsafe fn live_columns(relid: pg_sys::Oid) -> Vec<(i16, String)> {
    let rel = pg_sys::RelationIdGetRelation(relid);
    if rel.is_null() {
        return Vec::new();
    }
    let natts = (*(*rel).rd_att).natts as usize;
    let out = (*(*rel).rd_att)
        .attrs
        .as_slice(natts)
        .iter()
        .filter(|att| !att.attisdropped)
        .map(|att| {
            let name = CStr::from_ptr(att.attname.data.as_ptr());
            (att.attnum, name.to_string_lossy().into_owned())
        })
        .collect();
    pg_sys::RelationClose(rel);
    out
}

/// Called by the ProcessUtility hook before a utility statement: for a `COPY table [(columns)]
/// TO ...` (which reads without the executor), the table and its column list if it has one.
pub unsafe fn copy_before(node: *mut pg_sys::Node) -> Option<(pg_sys::Oid, Option<Vec<String>>)> {
    if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_CopyStmt {
        return None;
    }
    let copy = node as *mut pg_sys::CopyStmt;
    if (*copy).is_from || (*copy).relation.is_null() || !queue::available() {
        return None;
    }
    // SAFETY (lookup): resolves the name without locking; a missing table is COPY's own error.
    let relid = pg_sys::RangeVarGetRelidExtended(
        (*copy).relation,
        pg_sys::NoLock as i32,
        pg_sys::RVROption::RVR_MISSING_OK,
        None,
        std::ptr::null_mut(),
    );
    if relid == pg_sys::InvalidOid {
        return None;
    }
    let attlist = (!(*copy).attlist.is_null()).then(|| {
        pgrx::PgList::<pg_sys::Node>::from_pg((*copy).attlist)
            .iter_ptr()
            .filter_map(|n| {
                let s = (*(n as *mut pg_sys::String)).sval;
                (!s.is_null()).then(|| CStr::from_ptr(s).to_string_lossy().into_owned())
            })
            .collect()
    });
    Some((relid, attlist))
}
