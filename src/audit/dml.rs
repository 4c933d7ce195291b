//! DML auditing: `privacy._audit_dml()`, the AFTER statement trigger that `audit_table` puts on a
//! table (with transition tables), writes one audit row per changed row in the statement's
//! transaction.
//!
//! The rows are written by one `INSERT ... SELECT` over the transition tables, generated per
//! table and event by `privacy._audit_dml_sql` (the table's default masks, deparsed, applied to
//! each audited column; encrypted columns as key references) and prepared once per session: the
//! plan is kept until the table, its masking rules or its audit settings change (relcache
//! invalidation), so a statement pays for executing the insert, not for parsing and planning it.

use super::{txid_assigned, who};
use crate::elevated;
use crate::error::PrivacyError;
use pgrx::pg_sys;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;

struct Plan {
    plan: pg_sys::SPIPlanPtr,
    /// Some(lxid): loaded under a transaction snapshot; valid in that transaction only.
    scope: Option<u32>,
}

thread_local! {
    static PLANS: RefCell<HashMap<(pg_sys::Oid, u32), Plan>> = RefCell::new(HashMap::new());
    /// Tables whose plans must be rebuilt (relcache invalidations since the last use).
    static STALE: RefCell<Vec<pg_sys::Oid>> = const { RefCell::new(Vec::new()) };
    static ALL_STALE: Cell<bool> = const { Cell::new(false) };
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
    /// The extension tables whose changes make every plan stale (mask_rules, audited_tables).
    static CONFIG: Cell<[pg_sys::Oid; 2]> = const { Cell::new([pg_sys::InvalidOid; 2]) };
}

extern "C-unwind" fn relcache_changed(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    // Only Cells and a Vec are touched: this cannot fail or unwind.
    if relid == pg_sys::InvalidOid || CONFIG.with(|c| c.get().contains(&relid)) {
        ALL_STALE.with(|a| a.set(true));
    } else {
        STALE.with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.push(relid);
            } else {
                ALL_STALE.with(|a| a.set(true));
            }
        });
    }
}

fn config_oids() -> [pg_sys::Oid; 2] {
    // SAFETY: catalog lookups by name inside a transaction.
    unsafe {
        let nsp = pg_sys::get_namespace_oid(c"privacy".as_ptr(), true);
        [
            pg_sys::get_relname_relid(c"mask_rules".as_ptr(), nsp),
            pg_sys::get_relname_relid(c"audited_tables".as_ptr(), nsp),
        ]
    }
}

/// Frees what invalidations made stale.
fn forget_stale() {
    if !REGISTERED.with(|r| r.replace(true)) {
        // SAFETY: registers a callback for the life of the backend.
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(relcache_changed), pg_sys::Datum::from(0))
        };
        CONFIG.with(|c| c.set(config_oids()));
    }
    let all = ALL_STALE.with(|a| a.replace(false));
    let stale: Vec<pg_sys::Oid> = STALE.with(|s| std::mem::take(&mut *s.borrow_mut()));
    PLANS.with(|p| {
        let mut p = p.borrow_mut();
        p.retain(|(relid, _), plan| {
            let keep = !all && !stale.contains(relid) && !crate::xact::expired(plan.scope);
            if !keep {
                // SAFETY: a plan this backend kept with SPI_keepplan and no longer uses.
                unsafe { pg_sys::SPI_freeplan(plan.plan) };
            }
            keep
        });
    });
    if all {
        CONFIG.with(|c| c.set(config_oids()));
    }
}

const OPS: [(u32, &str); 4] = [
    (pg_sys::TRIGGER_EVENT_INSERT, "INSERT"),
    (pg_sys::TRIGGER_EVENT_UPDATE, "UPDATE"),
    (pg_sys::TRIGGER_EVENT_DELETE, "DELETE"),
    (pg_sys::TRIGGER_EVENT_TRUNCATE, "TRUNCATE"),
];

/// The prepared insert for the table and event (inside SPI, transition tables registered).
unsafe fn plan_for(relid: pg_sys::Oid, event: u32, op: &str) -> Option<pg_sys::SPIPlanPtr> {
    if let Some(p) = PLANS.with(|p| p.borrow().get(&(relid, event)).map(|p| p.plan)) {
        return Some(p);
    }
    let scope = crate::xact::scope_of_load();
    let sql = pgrx::Spi::get_one_with_args::<String>(
        "SELECT privacy._audit_dml_sql($1, $2)",
        &[relid.into(), op.into()],
    )
    .unwrap_or_else(|e| pgrx::error!("pg_privacy: could not build the audit statement: {e}"))?;
    let sql = CString::new(sql).expect("generated SQL has no NUL");
    let mut types = [
        pg_sys::INT8OID,
        pg_sys::NAMEOID,
        pg_sys::NAMEOID,
        pg_sys::TEXTOID,
        pg_sys::TEXTOID,
        pg_sys::TEXTOID,
    ];
    let plan = pg_sys::SPI_prepare(sql.as_ptr(), types.len() as i32, types.as_mut_ptr());
    if plan.is_null() {
        pgrx::error!("pg_privacy: could not prepare the audit statement");
    }
    pg_sys::SPI_keepplan(plan);
    PLANS.with(|p| p.borrow_mut().insert((relid, event), Plan { plan, scope }));
    Some(plan)
}

fn text_datum(s: Option<&str>) -> (pg_sys::Datum, std::ffi::c_char) {
    match s {
        // SAFETY: copies the string into a new text datum in the current memory context.
        Some(s) => (
            pgrx::IntoDatum::into_datum(s).expect("text datum"),
            b' ' as std::ffi::c_char,
        ),
        None => (pg_sys::Datum::from(0), b'n' as std::ffi::c_char),
    }
}

fn name_datum(s: &str) -> pg_sys::Datum {
    // SAFETY: namein copies (and truncates) the name into a new NameData.
    unsafe {
        let c = CString::new(s.replace('\0', "")).expect("no NUL");
        pgrx::direct_function_call_as_datum(
            pg_sys::namein,
            &[Some(pg_sys::Datum::from(c.as_ptr()))],
        )
        .expect("name datum")
    }
}

#[pgrx::pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn privacy_audit_dml(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let context = (*fcinfo).context;
    if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_TriggerData {
        PrivacyError::InvalidParameter("privacy._audit_dml() runs only as a trigger".into())
            .raise();
    }
    let data = context as *mut pg_sys::TriggerData;
    let tg_event = (*data).tg_event;
    if tg_event & pg_sys::TRIGGER_EVENT_ROW != 0
        || tg_event & pg_sys::TRIGGER_EVENT_TIMINGMASK != pg_sys::TRIGGER_EVENT_AFTER
    {
        PrivacyError::InvalidParameter(
            "privacy._audit_dml() must be an AFTER ... FOR EACH STATEMENT trigger".into(),
        )
        .raise();
    }
    let event = tg_event & pg_sys::TRIGGER_EVENT_OPMASK;
    let Some(&(_, op)) = OPS.iter().find(|(e, _)| *e == event) else {
        return pg_sys::Datum::from(0);
    };
    // Nothing changed: nothing to write (an UPDATE that matched no row).
    let count = |ts: *mut pg_sys::Tuplestorestate| {
        if ts.is_null() {
            0
        } else {
            pg_sys::tuplestore_tuple_count(ts)
        }
    };
    if event != pg_sys::TRIGGER_EVENT_TRUNCATE
        && count((*data).tg_oldtable) == 0
        && count((*data).tg_newtable) == 0
    {
        return pg_sys::Datum::from(0);
    }
    let relid = (*(*data).tg_relation).rd_id;
    let w = who(elevated::caller());
    let txid = txid_assigned();
    elevated::run(|| {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            pgrx::error!("pg_privacy: SPI_connect failed");
        }
        pg_sys::SPI_register_trigger_data(data);
        forget_stale();
        if let Some(plan) = plan_for(relid, event, op) {
            let (app, app_null) = text_datum(w.app_user.as_deref());
            let (addr, addr_null) = text_datum(w.client_addr.as_deref());
            let (name, name_null) = text_datum(w.application_name.as_deref());
            let mut values = [
                pg_sys::Datum::from(txid),
                name_datum(&w.session_role),
                name_datum(&w.current_role),
                app,
                addr,
                name,
            ];
            let nulls: Vec<std::ffi::c_char> = [
                b' ' as std::ffi::c_char,
                b' ' as std::ffi::c_char,
                b' ' as std::ffi::c_char,
            ]
            .into_iter()
            .chain([app_null, addr_null, name_null])
            .chain([0])
            .collect();
            let rc = pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), false, 0);
            if rc != pg_sys::SPI_OK_INSERT as i32 {
                pgrx::error!("pg_privacy: the audit insert failed ({rc})");
            }
        }
        pg_sys::SPI_finish();
    });
    pg_sys::Datum::from(0)
}

#[no_mangle]
pub extern "C" fn pg_finfo_privacy_audit_dml() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}
