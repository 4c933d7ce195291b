//! `privacy.status()`: what a DBA checks first. It reports whether the root key is loaded and
//! why not, never the key itself.

use crate::keys::{cache, root};
use pgrx::prelude::*;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::UNIX_EPOCH;

/// Set in the postmaster while preload libraries load; backends inherit it through fork.
static PRELOADED: AtomicBool = AtomicBool::new(false);

pub fn init() {
    // SAFETY: a plain global flag the server sets while it loads preload libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        PRELOADED.store(true, Ordering::Relaxed);
    }
}

pub fn preloaded() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

#[pg_extern(volatile, parallel_restricted)]
fn status() -> pgrx::JsonB {
    let key = root::status();
    let loaded_at = key
        .loaded_at
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| {
            // SAFETY: converting a Unix time to a timestamptz and formatting it are pure functions.
            let ts = unsafe { pg_sys::time_t_to_timestamptz(d.as_secs() as pg_sys::pg_time_t) };
            TimestampWithTimeZone::try_from(ts).ok()
        });
    let (entries, capacity, bytes) = cache::stats();
    pgrx::JsonB(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "preloaded": preloaded(),
        "root_key": {
            "command_set": key.command_set,
            "loaded": key.loaded,
            "active_id": key.active_id,
            "ids": key.ids,
            "fingerprint": key.fingerprint,
            "source": key.source.map(|s| s.as_str()),
            "loaded_at": loaded_at,
            "error": key.error,
        },
        "key_cache": { "entries": entries, "capacity": capacity, "approx_bytes": bytes },
        "worker": crate::worker::status_json(),
        "audit_queue": crate::audit::queue::status_json(),
    }))
}
