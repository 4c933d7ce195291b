//! The settings of API.md. Values are read through these statics; nothing here holds a key.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

/// Command printing `<key-id> <64 hex>` lines; the first is the active root key.
pub static ROOT_KEY_COMMAND: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c""));
/// How long the root key command may run before it is killed, in seconds.
pub static ROOT_KEY_COMMAND_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(30);
/// The human behind a pooled connection, recorded in audit rows.
pub static APP_USER: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
/// Seconds between a worker's wake-ups for due jobs.
pub static WORKER_NAPTIME: GucSetting<i32> = GucSetting::<i32>::new(10);
/// Read-audit events held in shared memory.
pub static AUDIT_QUEUE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(65536);
/// Milliseconds between flushes of the read-audit queue.
pub static AUDIT_FLUSH_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(200);
/// Milliseconds to pause between retention purge batches.
pub static RETENTION_BATCH_PAUSE: GucSetting<i32> = GucSetting::<i32>::new(10);
/// Most data keys a backend keeps unwrapped.
pub static KEY_CACHE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// Minutes an audit row is kept (400 days); 0 keeps audit rows for ever.
pub static AUDIT_RETENTION: GucSetting<i32> = GucSetting::<i32>::new(400 * 24 * 60);

pub fn init() {
    // PostgreSQL refuses server-start settings from a library loaded after start (FATAL). When
    // pg_privacy is not preloaded they are still read from postgresql.conf, at reload instead.
    // SAFETY: a plain global flag the server sets while it loads preload libraries.
    let preloading = unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress };
    let server_start = || {
        if preloading {
            GucContext::Postmaster
        } else {
            GucContext::Sighup
        }
    };
    GucRegistry::define_string_guc(
        c"privacy.root_key_command",
        c"Command that prints the root keys, one \"<key-id> <64 hex>\" line each; the first is active.",
        c"Runs once at server start when pg_privacy is preloaded, otherwise on first use in each \
          session. Its output is parsed and kept in process memory only; it never reaches a table, \
          a setting or a log line.",
        &ROOT_KEY_COMMAND,
        server_start(),
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_int_guc(
        c"privacy.root_key_command_timeout",
        c"How long privacy.root_key_command may run before it is killed.",
        c"",
        &ROOT_KEY_COMMAND_TIMEOUT,
        1,
        3600,
        server_start(),
        GucFlags::UNIT_S | GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"privacy.app_user",
        c"The person behind this connection (an agent id), recorded in audit rows.",
        c"Set it per request when a pooled connection serves many people.",
        &APP_USER,
        GucContext::Userset,
        GucFlags::empty(),
    );
    GucRegistry::define_int_guc(
        c"privacy.worker_naptime",
        c"How often each pg_privacy worker wakes for due jobs.",
        c"",
        &WORKER_NAPTIME,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"privacy.audit_queue_size",
        c"How many read-audit events shared memory holds before writers wait for the flusher.",
        c"",
        &AUDIT_QUEUE_SIZE,
        1024,
        16 * 1024 * 1024,
        server_start(),
        GucFlags::empty(),
    );
    GucRegistry::define_int_guc(
        c"privacy.audit_flush_interval",
        c"How often the worker moves queued read-audit events into privacy.audit_log.",
        c"",
        &AUDIT_FLUSH_INTERVAL,
        10,
        60_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"privacy.retention_batch_pause",
        c"Pause between two retention purge batches, so application traffic keeps flowing.",
        c"",
        &RETENTION_BATCH_PAUSE,
        0,
        60_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"privacy.key_cache_size",
        c"Most data keys each session keeps unwrapped and ready (about 1.2 kB each).",
        c"Scans over per-subject keys (customer:42, ...) beyond this many evict the least recently used.",
        &KEY_CACHE_SIZE,
        16,
        1_000_000,
        GucContext::Userset,
        GucFlags::empty(),
    );
    GucRegistry::define_int_guc(
        c"privacy.audit_retention",
        c"Audit rows older than this are purged (the cut is sealed); 0 keeps them for ever.",
        c"",
        &AUDIT_RETENTION,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_MIN,
    );
}

/// The root key command, or `None` when it is not set.
pub fn root_key_command() -> Option<String> {
    ROOT_KEY_COMMAND
        .get()
        .and_then(|c| c.into_string().ok())
        .filter(|s| !s.trim().is_empty())
}
