//! Catalog work with elevated rights: the extension's tables (keyring, grants) are closed to
//! ordinary roles, so the functions that read or change them switch to the bootstrap superuser
//! for the duration of the work, with `search_path` pinned to `pg_catalog, privacy, pg_temp`,
//! in a security-restricted operation. The caller's identity is read *before* the switch.
//!
//! On an error the transaction (or subtransaction) abort restores the user and the settings,
//! so only the success path restores them here.

use pgrx::pg_sys;

const BOOTSTRAP_SUPERUSER: pg_sys::Oid = pg_sys::Oid::from_u32(10);

/// Runs `f` as the bootstrap superuser with a pinned search_path.
pub fn run<T>(f: impl FnOnce() -> T) -> T {
    run_as(BOOTSTRAP_SUPERUSER, f)
}

/// Runs `f` as `role`, with the same pinned search_path, in a security-restricted operation
/// (no SET ROLE, no temporary objects), as PostgreSQL runs maintenance as a table's owner.
pub fn run_as<T>(role: pg_sys::Oid, f: impl FnOnce() -> T) -> T {
    // SAFETY: the same sequence fmgr uses for SECURITY DEFINER functions with proconfig; all
    // calls happen in a backend inside a transaction.
    unsafe {
        let mut saved_user = pg_sys::InvalidOid;
        let mut saved_context = 0;
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        let nest = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, privacy, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        pg_sys::SetUserIdAndSecContext(
            role,
            saved_context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
        let result = f();
        pg_sys::SetUserIdAndSecContext(saved_user, saved_context);
        // false: settings changed inside (by our SQL, or by a table owner's trigger during a
        // retention batch) are undone, as PostgreSQL does after running code as a table's owner.
        pg_sys::AtEOXact_GUC(false, nest);
        result
    }
}

mod unguarded {
    extern "C" {
        /// PostgreSQL's GetUserId: returns a backend global and never raises an error, so it is
        /// called without pgrx's setjmp guard, which costs more than the call (this runs once
        /// per decrypted row).
        pub fn GetUserId() -> pgrx::pg_sys::Oid;
    }
}

/// The role the caller is acting as (after SET ROLE, before any elevation).
pub fn caller() -> pg_sys::Oid {
    // SAFETY: GetUserId reads a backend global set at connection start; it cannot longjmp.
    unsafe { unguarded::GetUserId() }
}

pub fn is_superuser(role: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup by oid.
    unsafe { pg_sys::superuser_arg(role) }
}

/// Whether `member` has the privileges of `role` (directly, or through inheriting membership).
pub fn has_privs_of_role(member: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup by oids.
    unsafe { pg_sys::has_privs_of_role(member, role) }
}

/// The name of a role, for messages and event records.
pub fn role_name(role: pg_sys::Oid) -> String {
    // SAFETY: GetUserNameFromId with noerr returns NULL for a dropped role.
    unsafe {
        let p = pg_sys::GetUserNameFromId(role, true);
        if p.is_null() {
            format!("role {}", role.to_u32())
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// `schema.table`, each part quoted as needed (as `format('%I.%I')` writes it).
pub fn qualified_name(relid: pg_sys::Oid) -> Option<String> {
    // SAFETY: syscache lookups by oid; quote_identifier returns its argument or a new string.
    unsafe {
        let rel = pg_sys::get_rel_name(relid);
        if rel.is_null() {
            return None;
        }
        let nsp = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid));
        if nsp.is_null() {
            return None;
        }
        let q = |p: *const std::ffi::c_char| {
            std::ffi::CStr::from_ptr(pg_sys::quote_identifier(p))
                .to_string_lossy()
                .into_owned()
        };
        Some(format!("{}.{}", q(nsp), q(rel)))
    }
}
