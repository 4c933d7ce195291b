//! Masking policies: the Rust half of `masked.<table>` views.
//!
//! - [`mask_expression`] checks a mask with PostgreSQL's own parser and returns it deparsed by
//!   PostgreSQL, so the view DDL is built from a parsed, checked expression and never from the
//!   user's text.
//! - [`mask_choice`] decides which branch of a column's CASE the current role gets: 0 for
//!   unmasked, else the id of the rule that applies. Its planner support function folds it into
//!   a constant when the query is planned, so the CASE reduces to the reader's branch. Rules are
//!   cached per backend and reloaded after a change to `privacy.mask_rules` (the same
//!   relcache-invalidation scheme as the keyring).
//! - [`masked_ddl_start`] is the `ddl_command_start` event trigger: before `DROP TABLE`,
//!   `ALTER TABLE … DROP COLUMN` or `… ALTER COLUMN … TYPE` on a table with a masked view, it
//!   sets the view aside (its grants are kept) so the command is not blocked by the view's
//!   dependency on the table; `ddl_command_end` rebuilds it (sql/masking_policies.sql).

use crate::elevated;
use crate::error::{OrRaise, PrivacyError};
use crate::xact;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::rc::Rc;

const PG_CATALOG_NAMESPACE: pg_sys::Oid = pg_sys::Oid::from_u32(11);
/// Objects created by initdb have oids below this; everything of pg_catalog is there.
const FIRST_NORMAL_OBJECT_ID: u32 = 16384;

/// pg_catalog functions that run SQL text given to them: a mask must not smuggle a query in.
const SQL_RUNNING_FUNCTIONS: [&str; 9] = [
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "pg_get_expr",
];

fn invalid(msg: impl Into<String>) -> PrivacyError {
    PrivacyError::InvalidParameter(msg.into())
}

fn privacy_namespace() -> pg_sys::Oid {
    // SAFETY: a catalog lookup by name; the schema exists while the extension does.
    unsafe { pg_sys::get_namespace_oid(c"privacy".as_ptr(), false) }
}

/// What the walker found wrong, if anything (it stops at the first problem).
struct Check {
    privacy: pg_sys::Oid,
    problem: Option<String>,
}

fn type_namespace(typid: pg_sys::Oid) -> Option<pg_sys::Oid> {
    // SAFETY: a syscache lookup of pg_type by oid, released before returning.
    unsafe {
        let tup = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::TYPEOID as i32,
            pg_sys::Datum::from(typid),
        );
        if tup.is_null() {
            return None;
        }
        let form = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_type>(tup);
        let ns = (*form).typnamespace;
        pg_sys::ReleaseSysCache(tup);
        Some(ns)
    }
}

fn type_allowed(check: &Check, typid: pg_sys::Oid) -> bool {
    typid.to_u32() < FIRST_NORMAL_OBJECT_ID
        || type_namespace(typid).is_some_and(|ns| ns == check.privacy || ns == PG_CATALOG_NAMESPACE)
}

#[pg_guard]
unsafe extern "C-unwind" fn function_checker(
    funcid: pg_sys::Oid,
    ctx: *mut core::ffi::c_void,
) -> bool {
    let check = &mut *(ctx as *mut Check);
    let ns = pg_sys::get_func_namespace(funcid);
    let name_ptr = pg_sys::get_func_name(funcid);
    let name = if name_ptr.is_null() {
        String::new()
    } else {
        CStr::from_ptr(name_ptr).to_string_lossy().into_owned()
    };
    let problem = if ns != PG_CATALOG_NAMESPACE && ns != check.privacy {
        let nsp_ptr = pg_sys::get_namespace_name(ns);
        let nsp = if nsp_ptr.is_null() {
            String::from("?")
        } else {
            CStr::from_ptr(nsp_ptr).to_string_lossy().into_owned()
        };
        Some(format!(
            "function {nsp}.{name} is not allowed: only functions of the privacy and pg_catalog schemas are"
        ))
    } else if ns == check.privacy && name.starts_with('_') {
        Some(format!("internal function privacy.{name} is not allowed"))
    } else if ns == PG_CATALOG_NAMESPACE && SQL_RUNNING_FUNCTIONS.contains(&name.as_str()) {
        Some(format!("function {name} runs SQL text and is not allowed"))
    } else if pg_sys::func_volatile(funcid) == pg_sys::PROVOLATILE_VOLATILE as core::ffi::c_char
        && !(ns == check.privacy && name == "noise")
    {
        Some(format!(
            "function {name} is volatile and not allowed (privacy.noise is the one exception)"
        ))
    } else {
        None
    };
    if problem.is_some() {
        check.problem = problem;
        return true;
    }
    false
}

#[pg_guard]
unsafe extern "C-unwind" fn walker(node: *mut pg_sys::Node, ctx: *mut core::ffi::c_void) -> bool {
    if node.is_null() {
        return false;
    }
    let check = &mut *(ctx as *mut Check);
    let tag = (*node).type_;
    let refused = match tag {
        pg_sys::NodeTag::T_Var => {
            let var = node as *mut pg_sys::Var;
            if (*var).varattno <= 0 || (*var).varlevelsup != 0 {
                Some("system columns and whole-row references are not allowed".to_string())
            } else {
                None
            }
        }
        pg_sys::NodeTag::T_SubLink | pg_sys::NodeTag::T_SubPlan => {
            Some("subqueries are not allowed".to_string())
        }
        pg_sys::NodeTag::T_Aggref
        | pg_sys::NodeTag::T_WindowFunc
        | pg_sys::NodeTag::T_GroupingFunc => {
            Some("aggregate and window functions are not allowed".to_string())
        }
        pg_sys::NodeTag::T_Param => Some("parameters are not allowed".to_string()),
        pg_sys::NodeTag::T_CoerceToDomain => Some("casts to domains are not allowed".to_string()),
        pg_sys::NodeTag::T_List => None,
        _ => None,
    };
    if let Some(p) = refused {
        check.problem = Some(p);
        return true;
    }
    if tag != pg_sys::NodeTag::T_List {
        let typid = pg_sys::exprType(node);
        if typid != pg_sys::InvalidOid && !type_allowed(check, typid) {
            let tname = CStr::from_ptr(pg_sys::format_type_be(typid))
                .to_string_lossy()
                .into_owned();
            check.problem = Some(format!(
                "type {tname} is not allowed: only types of the privacy and pg_catalog schemas are"
            ));
            return true;
        }
        if pg_sys::check_functions_in_node(node, Some(function_checker), ctx) {
            return true;
        }
    }
    pg_sys::expression_tree_walker(node, Some(walker), ctx)
}

/// Walks an analysed mask and refuses what a mask may not contain (see [`walker`]).
unsafe fn check_tree(expr: *mut pg_sys::Node) -> Result<(), PrivacyError> {
    let mut check = Check {
        privacy: privacy_namespace(),
        problem: None,
    };
    walker(expr, &mut check as *mut Check as *mut core::ffi::c_void);
    match check.problem {
        Some(p) => Err(invalid(p)),
        None => Ok(()),
    }
}

/// The schema part of a qualified name (a list of String nodes), if any.
unsafe fn qualifier(names: *mut pg_sys::List) -> Option<String> {
    let names = pgrx::PgList::<pg_sys::Node>::from_pg(names);
    if names.len() < 2 {
        return None;
    }
    let node = names.get_ptr(names.len() - 2)?;
    if (*node).type_ != pg_sys::NodeTag::T_String {
        return Some(String::from("?"));
    }
    let sval = (*(node as *mut pg_sys::String)).sval;
    Some(CStr::from_ptr(sval).to_string_lossy().into_owned())
}

/// Walks the raw parse tree before any analysis. Analysis runs code: a literal cast to a type
/// runs that type's input function, a domain's checks, a function's argument coercions. So
/// anything that names a schema other than privacy or pg_catalog, or a type of another schema
/// (pg_temp included), is refused before it can run, whoever parses the expression.
#[pg_guard]
unsafe extern "C-unwind" fn raw_walker(
    node: *mut pg_sys::Node,
    ctx: *mut core::ffi::c_void,
) -> bool {
    if node.is_null() {
        return false;
    }
    let check = &mut *(ctx as *mut Check);
    let allowed = |schema: &str| schema == "pg_catalog" || schema == "privacy";
    let problem = match (*node).type_ {
        pg_sys::NodeTag::T_FuncCall => qualifier((*(node as *mut pg_sys::FuncCall)).funcname)
            .filter(|s| !allowed(s))
            .map(|s| format!("functions of schema {s} are not allowed: only functions of the privacy and pg_catalog schemas are")),
        pg_sys::NodeTag::T_A_Expr => qualifier((*(node as *mut pg_sys::A_Expr)).name)
            .filter(|s| !allowed(s))
            .map(|s| format!("operators of schema {s} are not allowed")),
        pg_sys::NodeTag::T_SubLink => Some("subqueries are not allowed".to_string()),
        pg_sys::NodeTag::T_TypeName => {
            let typid = pg_sys::LookupTypeNameOid(std::ptr::null_mut(), node as *mut pg_sys::TypeName, true);
            if typid != pg_sys::InvalidOid && !type_allowed(check, typid) {
                let tname = CStr::from_ptr(pg_sys::format_type_be(typid)).to_string_lossy().into_owned();
                Some(format!(
                    "type {tname} is not allowed: only types of the privacy and pg_catalog schemas are"
                ))
            } else {
                None
            }
        }
        _ => None,
    };
    if let Some(p) = problem {
        check.problem = Some(p);
        return true;
    }
    pg_sys::raw_expression_tree_walker(node, Some(raw_walker), ctx)
}

/// The single expression of `SELECT <mask>`, or why the text is not one.
unsafe fn single_expression(mask: &str) -> Result<(*mut pg_sys::Node, CString), PrivacyError> {
    let sql = CString::new(format!("SELECT {mask}"))
        .map_err(|_| invalid("the expression cannot contain a NUL character"))?;
    let stmts = pg_sys::raw_parser(sql.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
    let stmts = pgrx::PgList::<pg_sys::RawStmt>::from_pg(stmts);
    if stmts.len() != 1 {
        return Err(invalid("it must be a single SQL expression"));
    }
    let raw = stmts.get_ptr(0).expect("one statement");
    let node = (*raw).stmt;
    if (*node).type_ != pg_sys::NodeTag::T_SelectStmt {
        return Err(invalid("it must be a single SQL expression"));
    }
    let sel = node as *mut pg_sys::SelectStmt;
    let s = &*sel;
    let targets = pgrx::PgList::<pg_sys::ResTarget>::from_pg(s.targetList);
    let extra = !s.distinctClause.is_null()
        || !s.intoClause.is_null()
        || !s.fromClause.is_null()
        || !s.whereClause.is_null()
        || !s.groupClause.is_null()
        || !s.havingClause.is_null()
        || !s.windowClause.is_null()
        || !s.valuesLists.is_null()
        || !s.sortClause.is_null()
        || !s.limitOffset.is_null()
        || !s.limitCount.is_null()
        || !s.lockingClause.is_null()
        || !s.withClause.is_null()
        || s.op != pg_sys::SetOperation::SETOP_NONE;
    if extra || targets.len() != 1 {
        return Err(invalid("it must be a single SQL expression"));
    }
    let target = targets.get_ptr(0).expect("one target");
    let mut check = Check {
        privacy: privacy_namespace(),
        problem: None,
    };
    raw_walker(
        (*target).val,
        &mut check as *mut Check as *mut core::ffi::c_void,
    );
    if let Some(p) = check.problem {
        return Err(invalid(p));
    }
    if !(*target).name.is_null() {
        return Err(invalid("it must be a single SQL expression, without AS"));
    }
    Ok(((*target).val, sql))
}

/// Checks `mask` as an expression over the columns of `tbl` whose result is shown as
/// `target`/`typmod`, and returns it deparsed by PostgreSQL (cast to the target type).
///
/// Parsing happens with the caller's rights and search_path: `mask_column` pins the path to
/// `pg_catalog, privacy, pg_temp`, and every function and type the mask uses must come from
/// `pg_catalog` or `privacy`, so re-parsing it later with elevated rights runs nothing else.
/// A boolean filter (retention policies, legal holds): checked like a mask, and refused if it
/// calls any volatile function at all (privacy.noise included): a hold must match the same rows
/// every time it is evaluated.
#[pg_extern(volatile, parallel_unsafe, name = "_filter_expression")]
fn filter_expression(tbl: pg_sys::Oid, filter: &str) -> String {
    // SAFETY: as in mask_expression.
    unsafe {
        let a = analyze(tbl, filter).or_raise();
        if pg_sys::contain_volatile_functions(a.expr) {
            invalid("volatile functions are not allowed in a filter").raise();
        }
        a.close();
        mask_expression_inner(tbl, filter, pg_sys::BOOLOID, -1).or_raise()
    }
}

#[pg_extern(volatile, parallel_unsafe, name = "_mask_expression")]
fn mask_expression(tbl: pg_sys::Oid, mask: &str, target: pg_sys::Oid, typmod: i32) -> String {
    // SAFETY: parser and catalog calls inside a transaction, as in transformExpr's callers; the
    // relation stays open (AccessShareLock) while its columns are resolved.
    unsafe { mask_expression_inner(tbl, mask, target, typmod) }.or_raise()
}

/// A mask parsed and analysed against the table, before any cast to the shown type.
struct Analyzed {
    expr: *mut pg_sys::Node,
    pstate: *mut pg_sys::ParseState,
    rel: pg_sys::Relation,
    _sql: CString,
}

impl Analyzed {
    unsafe fn close(self) {
        pg_sys::free_parsestate(self.pstate);
        pg_sys::table_close(self.rel, pg_sys::NoLock as i32);
    }
}

unsafe fn analyze(tbl: pg_sys::Oid, mask: &str) -> Result<Analyzed, PrivacyError> {
    if mask.trim().is_empty() {
        return Err(invalid("it must not be empty"));
    }
    let (raw, sql) = single_expression(mask)?;
    let rel = pg_sys::table_open(tbl, pg_sys::AccessShareLock as i32);
    let pstate = pg_sys::make_parsestate(std::ptr::null_mut());
    (*pstate).p_sourcetext = sql.as_ptr();
    let nsitem = pg_sys::addRangeTableEntryForRelation(
        pstate,
        rel,
        pg_sys::AccessShareLock as i32,
        std::ptr::null_mut(),
        false,
        true,
    );
    pg_sys::addNSItemToQuery(pstate, nsitem, true, true, true);
    let expr = pg_sys::transformExpr(pstate, raw, pg_sys::ParseExprKind::EXPR_KIND_SELECT_TARGET);
    if (*pstate).p_hasAggs || (*pstate).p_hasWindowFuncs {
        return Err(invalid("aggregate and window functions are not allowed"));
    }
    if (*pstate).p_hasTargetSRFs || pg_sys::expression_returns_set(expr) {
        return Err(invalid("functions that return sets are not allowed"));
    }
    if (*pstate).p_hasSubLinks {
        return Err(invalid("subqueries are not allowed"));
    }
    check_tree(expr)?;
    Ok(Analyzed {
        expr,
        pstate,
        rel,
        _sql: sql,
    })
}

/// PostgreSQL's SQL for an analysed expression over `tbl`. Deparsed with only `pg_catalog` on
/// the search_path, so every function of privacy comes out schema-qualified, as users write it.
unsafe fn deparse(tbl: pg_sys::Oid, expr: *mut pg_sys::Node) -> String {
    let nest = pg_sys::NewGUCNestLevel();
    pg_sys::set_config_option(
        c"search_path".as_ptr(),
        c"pg_catalog, pg_temp".as_ptr(),
        pg_sys::GucContext::PGC_USERSET,
        pg_sys::GucSource::PGC_S_SESSION,
        pg_sys::GucAction::GUC_ACTION_SAVE,
        true,
        0,
        false,
    );
    let relname = pg_sys::get_rel_name(tbl);
    let context = pg_sys::deparse_context_for(relname, tbl);
    let text = pg_sys::deparse_expression(expr, context, false, false);
    let out = CStr::from_ptr(text).to_string_lossy().into_owned();
    pg_sys::AtEOXact_GUC(true, nest);
    out
}

unsafe fn mask_expression_inner(
    tbl: pg_sys::Oid,
    mask: &str,
    target: pg_sys::Oid,
    typmod: i32,
) -> Result<String, PrivacyError> {
    let a = analyze(tbl, mask)?;
    let mut expr = a.expr;
    let source = pg_sys::exprType(expr);
    if source != target || pg_sys::exprTypmod(expr) != typmod {
        let coerced = pg_sys::coerce_to_target_type(
            a.pstate,
            expr,
            source,
            target,
            typmod,
            pg_sys::CoercionContext::COERCION_ASSIGNMENT,
            pg_sys::CoercionForm::COERCE_EXPLICIT_CAST,
            -1,
        );
        if coerced.is_null() {
            let from = CStr::from_ptr(pg_sys::format_type_be(source))
                .to_string_lossy()
                .into_owned();
            let to = CStr::from_ptr(pg_sys::format_type_be(target))
                .to_string_lossy()
                .into_owned();
            return Err(invalid(format!("it returns {from}, but {to} is needed")));
        }
        expr = coerced;
        // The cast itself may call a function (text to a type's input function, say).
        check_tree(expr)?;
    }
    pg_sys::assign_expr_collations(a.pstate, expr);
    let out = deparse(tbl, expr);
    a.close();
    Ok(out)
}

/// The analysed mask as a node tree (text), taken before a column rename so the mask can be
/// written again with the new names afterwards ([`mask_tree_deparse`]).
#[pg_extern(volatile, parallel_unsafe, name = "_mask_tree")]
fn mask_tree(tbl: pg_sys::Oid, mask: &str) -> String {
    // SAFETY: as in mask_expression.
    unsafe {
        let a = analyze(tbl, mask).or_raise();
        let s = CStr::from_ptr(pg_sys::nodeToString(a.expr as *const core::ffi::c_void))
            .to_string_lossy()
            .into_owned();
        a.close();
        s
    }
}

/// A node tree from [`mask_tree`], deparsed with the table's current column names.
#[pg_extern(volatile, parallel_unsafe, name = "_mask_tree_deparse")]
fn mask_tree_deparse(tbl: pg_sys::Oid, tree: &str) -> String {
    let c = CString::new(tree)
        .map_err(|_| invalid("invalid mask tree"))
        .or_raise();
    // SAFETY: the tree was produced by nodeToString in this transaction, for this table, whose
    // column numbers a rename does not change.
    unsafe {
        let rel = pg_sys::table_open(tbl, pg_sys::AccessShareLock as i32);
        let node = pg_sys::stringToNode(c.as_ptr()) as *mut pg_sys::Node;
        let out = deparse(tbl, node);
        pg_sys::table_close(rel, pg_sys::NoLock as i32);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Which branch the current role gets.

#[derive(Clone)]
struct Rule {
    id: i64,
    /// None for the column's default mask.
    role: Option<(pg_sys::Oid, String)>,
    unmask: bool,
    priority: i32,
}

type Rules = HashMap<(pg_sys::Oid, String), Vec<Rule>>;

thread_local! {
    static RULES: xact::TableCache<Rc<Rules>> = const { xact::TableCache::new() };
}

fn rules() -> Rc<Rules> {
    RULES.with(|cache| cache.get(load_rules))
}

fn load_rules() -> (pg_sys::Oid, Rc<Rules>) {
    let loaded = elevated::run(|| {
        Spi::connect(|client| {
            let oid = client
                .select("SELECT 'privacy.mask_rules'::regclass::oid", Some(1), &[])?
                .first()
                .get_one::<pg_sys::Oid>()?;
            let rows = client.select(
                "SELECT id, tbl::oid, col::text, role::oid, role_name::text, mask IS NULL, priority \
                   FROM privacy.mask_rules",
                None,
                &[],
            )?;
            let mut map: Rules = HashMap::new();
            for row in rows {
                let id = row.get::<i64>(1)?.unwrap_or_default();
                let tbl = row.get::<pg_sys::Oid>(2)?.unwrap_or(pg_sys::InvalidOid);
                let col = row.get::<String>(3)?.unwrap_or_default();
                let role = match (row.get::<pg_sys::Oid>(4)?, row.get::<String>(5)?) {
                    (Some(oid), Some(name)) => Some((oid, name)),
                    _ => None,
                };
                let unmask = row.get::<bool>(6)?.unwrap_or(false);
                let priority = row.get::<i32>(7)?.unwrap_or(0);
                map.entry((tbl, col)).or_default().push(Rule { id, role, unmask, priority });
            }
            Ok::<_, pgrx::spi::Error>((oid, map))
        })
    })
    .map_err(|e| PrivacyError::Internal { what: format!("could not read privacy.mask_rules: {e}") })
    .or_raise();
    let (oid, map) = loaded;
    (oid.unwrap_or(pg_sys::InvalidOid), Rc::new(map))
}

/// Whether `user` belongs to `role` for masking: by inheriting membership, as for row-level
/// security. A superuser counts only its real memberships (it can read the table anyway).
fn belongs(user: pg_sys::Oid, role: pg_sys::Oid, name: &str) -> bool {
    // A rule follows the role it was made for: a dropped role whose oid is reused by a new
    // role of another name gives that role nothing.
    if elevated::role_name(role) != name {
        return false;
    }
    if elevated::is_superuser(user) {
        // SAFETY: a catalog lookup by oids.
        unsafe { pg_sys::is_member_of_role_nosuper(user, role) }
    } else {
        elevated::has_privs_of_role(user, role)
    }
}

/// The branch for `user`: 0 unmasked, else the id of the rule that applies, -1 when the column
/// has no rule (the view then shows NULL: fail closed).
fn choose(rules: &[Rule], user: pg_sys::Oid) -> i64 {
    let applies = |r: &Rule| {
        r.role
            .as_ref()
            .is_some_and(|(oid, name)| belongs(user, *oid, name))
    };
    if rules.iter().any(|r| r.unmask && applies(r)) {
        return 0;
    }
    let best_role = rules
        .iter()
        .filter(|r| !r.unmask && r.role.is_some() && applies(r))
        .max_by(|a, b| {
            a.priority.cmp(&b.priority).then_with(|| {
                // Equal priority: the role whose name sorts first wins, so the choice is stable.
                let an = a.role.as_ref().map(|(_, n)| n.as_str()).unwrap_or("");
                let bn = b.role.as_ref().map(|(_, n)| n.as_str()).unwrap_or("");
                bn.cmp(an)
            })
        });
    if let Some(r) = best_role {
        return r.id;
    }
    rules
        .iter()
        .find(|r| r.role.is_none())
        .map(|r| r.id)
        .unwrap_or(-1)
}

/// The branch of `col` of `tbl` the current role gets (see the module comment). Called once per
/// query per masked column, from an InitPlan of the view.
#[pg_extern(stable, strict, parallel_safe, name = "_mask_choice")]
fn mask_choice(tbl: pg_sys::Oid, col: &str) -> i64 {
    choice_for(tbl, col)
}

/// For the audit: whether any rule unmasks anything for the current role (most readers of
/// masked views have none, and pay nothing more).
pub fn may_unmask_anything() -> bool {
    let user = elevated::caller();
    rules().values().flatten().any(|r| {
        r.unmask
            && r.role
                .as_ref()
                .is_some_and(|(oid, name)| belongs(user, *oid, name))
    })
}

/// For the audit: the columns of `columns` of `tbl` that the current role sees unmasked through
/// its masked view.
pub fn unmasked_columns(tbl: pg_sys::Oid, columns: &[String]) -> Vec<String> {
    let rules = rules();
    let user = elevated::caller();
    columns
        .iter()
        .filter(|c| {
            rules
                .get(&(tbl, (*c).clone()))
                .is_some_and(|list| choose(list, user) == 0)
        })
        .cloned()
        .collect()
}

/// The branch of `col` of `tbl` for the current role (see [`choose`]).
fn choice_for(tbl: pg_sys::Oid, col: &str) -> i64 {
    match rules().get(&(tbl, col.to_string())) {
        Some(list) => choose(list, elevated::caller()),
        None => -1,
    }
}

// ---------------------------------------------------------------------------------------------
// Planner support: the branch is decided when the query is planned.
//
// `_mask_choice(<const>, <const>)` is folded into a constant by the planner (SupportRequestSimplify),
// and PostgreSQL then reduces `CASE <const> WHEN ...` to the one branch that applies: a reader
// pays for its own mask and nothing else, per row and per query. The plan is marked as
// depending on the current role (as row-level security does), so the plan cache replans when
// another role runs it; a change of role membership or of a role itself resets the plan cache
// (syscache callbacks below); a rule change rebuilds the view, which invalidates plans that
// read it. Where no planner is involved the function simply runs, with the same answer.

thread_local! {
    static ROLE_CALLBACKS: Cell<bool> = const { Cell::new(false) };
}

#[pg_guard]
extern "C-unwind" fn roles_changed(_arg: pg_sys::Datum, _cacheid: i32, _hash: u32) {
    // SAFETY: marks every cached plan invalid, as PostgreSQL's own callbacks for namespaces and
    // functions do; no catalog access.
    unsafe { pg_sys::ResetPlanCache() };
}

fn register_role_callbacks() {
    if ROLE_CALLBACKS.with(|c| c.replace(true)) {
        return;
    }
    // SAFETY: registering syscache callbacks for the life of the backend.
    unsafe {
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM as i32,
            Some(roles_changed),
            pg_sys::Datum::from(0),
        );
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::AUTHOID as i32,
            Some(roles_changed),
            pg_sys::Datum::from(0),
        );
    }
}

/// The constant arguments of a `_mask_choice` call, if both are non-NULL constants.
unsafe fn constant_arguments(call: *mut pg_sys::FuncExpr) -> Option<(pg_sys::Oid, String)> {
    let args = pgrx::PgList::<pg_sys::Node>::from_pg((*call).args);
    if args.len() != 2 {
        return None;
    }
    let (a, b) = (args.get_ptr(0)?, args.get_ptr(1)?);
    if (*a).type_ != pg_sys::NodeTag::T_Const || (*b).type_ != pg_sys::NodeTag::T_Const {
        return None;
    }
    let (a, b) = (a as *mut pg_sys::Const, b as *mut pg_sys::Const);
    if (*a).constisnull || (*b).constisnull || (*a).consttype != pg_sys::OIDOID {
        return None;
    }
    let tbl = pg_sys::Oid::from_u32((*a).constvalue.value() as u32);
    let col = pg_sys::text_to_cstring((*b).constvalue.cast_mut_ptr::<pg_sys::text>());
    Some((tbl, CStr::from_ptr(col).to_string_lossy().into_owned()))
}

/// The planner support function of `_mask_choice` (LANGUAGE c in sql/masking_policies.sql).
///
/// # Safety
/// Called by the planner with a SupportRequest node as its only argument.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn privacy_mask_choice_support(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let none = pg_sys::Datum::from(0);
    let req = pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, 0).cast_mut_ptr::<pg_sys::Node>();
    if req.is_null() || (*req).type_ != pg_sys::NodeTag::T_SupportRequestSimplify {
        return none;
    }
    let simplify = req as *mut pg_sys::SupportRequestSimplify;
    let root = (*simplify).root;
    // Only inside the planner, whose plan can be marked as depending on the role.
    if root.is_null() || (*root).glob.is_null() {
        return none;
    }
    let Some((tbl, col)) = constant_arguments((*simplify).fcall) else {
        return none;
    };
    register_role_callbacks();
    let choice = choice_for(tbl, &col);
    (*(*root).glob).dependsOnRole = true;
    let folded = pg_sys::makeConst(
        pg_sys::INT8OID,
        -1,
        pg_sys::InvalidOid,
        8,
        pg_sys::Datum::from(choice),
        false,
        true,
    );
    pg_sys::Datum::from(folded as *mut core::ffi::c_void)
}

#[no_mangle]
pub extern "C" fn pg_finfo_privacy_mask_choice_support() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

// ---------------------------------------------------------------------------------------------
// ddl_command_start: set a masked view aside before DDL that its dependency would block.

unsafe fn relid_of(rv: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    if rv.is_null() {
        return pg_sys::InvalidOid;
    }
    pg_sys::RangeVarGetRelidExtended(
        rv,
        pg_sys::NoLock as i32,
        pg_sys::RVROption::RVR_MISSING_OK,
        None,
        std::ptr::null_mut(),
    )
}

/// Tables the command is about to drop a column of, change a column type of, or drop, and
/// whether it says CASCADE.
unsafe fn blocked_tables(tree: *mut pg_sys::Node) -> Vec<(pg_sys::Oid, bool)> {
    let mut out = Vec::new();
    if tree.is_null() {
        return out;
    }
    match (*tree).type_ {
        pg_sys::NodeTag::T_AlterTableStmt => {
            let stmt = tree as *mut pg_sys::AlterTableStmt;
            let cmds = pgrx::PgList::<pg_sys::AlterTableCmd>::from_pg((*stmt).cmds);
            let relevant: Vec<_> = cmds
                .iter_ptr()
                .filter(|c| {
                    matches!(
                        (**c).subtype,
                        pg_sys::AlterTableType::AT_DropColumn
                            | pg_sys::AlterTableType::AT_AlterColumnType
                    )
                })
                .collect();
            if !relevant.is_empty() {
                let cascade = relevant
                    .iter()
                    .any(|c| (**c).behavior == pg_sys::DropBehavior::DROP_CASCADE);
                out.push((relid_of((*stmt).relation), cascade));
            }
        }
        pg_sys::NodeTag::T_DropStmt => {
            let stmt = tree as *mut pg_sys::DropStmt;
            if (*stmt).removeType == pg_sys::ObjectType::OBJECT_TABLE {
                let objects = pgrx::PgList::<pg_sys::List>::from_pg((*stmt).objects);
                let cascade = (*stmt).behavior == pg_sys::DropBehavior::DROP_CASCADE;
                for names in objects.iter_ptr() {
                    out.push((relid_of(pg_sys::makeRangeVarFromNameList(names)), cascade));
                }
            }
        }
        _ => {}
    }
    out.retain(|(o, _)| *o != pg_sys::InvalidOid);
    out
}

/// `ALTER TABLE … RENAME COLUMN old TO new`: the table and both names.
unsafe fn column_rename(tree: *mut pg_sys::Node) -> Option<(pg_sys::Oid, String, String)> {
    if tree.is_null() || (*tree).type_ != pg_sys::NodeTag::T_RenameStmt {
        return None;
    }
    let stmt = tree as *mut pg_sys::RenameStmt;
    if (*stmt).renameType != pg_sys::ObjectType::OBJECT_COLUMN
        || (*stmt).subname.is_null()
        || (*stmt).newname.is_null()
    {
        return None;
    }
    let relid = relid_of((*stmt).relation);
    if relid == pg_sys::InvalidOid {
        return None;
    }
    Some((
        relid,
        CStr::from_ptr((*stmt).subname)
            .to_string_lossy()
            .into_owned(),
        CStr::from_ptr((*stmt).newname)
            .to_string_lossy()
            .into_owned(),
    ))
}

/// The `ddl_command_start` event trigger function (LANGUAGE c in sql/masking_policies.sql).
///
/// # Safety
/// Called by PostgreSQL's function manager as an event trigger.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn privacy_masked_ddl_start(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let context = (*fcinfo).context;
    if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_EventTriggerData {
        PrivacyError::InvalidParameter("not called as an event trigger".into()).raise();
    }
    let data = context as *mut pg_sys::EventTriggerData;
    let tree = (*data).parsetree;
    let tables = blocked_tables(tree);
    let rename = column_rename(tree);
    if !tables.is_empty() || rename.is_some() {
        elevated::run(|| {
            Spi::connect_mut(|client| {
                for (t, cascade) in &tables {
                    client.update(
                        "SELECT privacy._masked_view_set_aside($1, $2)",
                        None,
                        &[(*t).into(), (*cascade).into()],
                    )?;
                }
                if let Some((relid, old, new)) = &rename {
                    client.update(
                        "SELECT privacy._mask_rules_before_rename($1, $2, $3)",
                        None,
                        &[(*relid).into(), old.as_str().into(), new.as_str().into()],
                    )?;
                }
                Ok::<_, pgrx::spi::Error>(())
            })
        })
        .map_err(|e| PrivacyError::Internal {
            what: format!("could not set a masked view aside: {e}"),
        })
        .or_raise();
    }
    pg_sys::Datum::from(0)
}

#[no_mangle]
pub extern "C" fn pg_finfo_privacy_masked_ddl_start() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}
