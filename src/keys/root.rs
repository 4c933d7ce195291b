//! The root key (KEK): loaded by running `privacy.root_key_command`, kept in process memory.
//!
//! When pg_privacy is preloaded the command runs once in the postmaster and every backend
//! inherits the keys through fork. Otherwise, or when that attempt failed (a KMS briefly
//! unreachable at boot should not need a restart), a backend runs it on first use, at most once
//! every few seconds. The command's output is parsed into zeroizing buffers; neither it nor its
//! error output is ever logged or shown, since either may contain key material.

use crate::error::PrivacyError;
use crate::gucs;
use pg_privacy_core::{parse_root_key_output, RootKeyring};
use pgrx::prelude::*;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use zeroize::Zeroizing;

/// Output larger than this is refused: a key line is under 140 bytes.
const MAX_OUTPUT: usize = 64 * 1024;
/// After a failed attempt, a backend waits this long before running the command again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Loaded once at server start, inherited by every backend.
    Postmaster,
    /// Loaded by this backend on first use.
    Backend,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Postmaster => "postmaster",
            Source::Backend => "backend",
        }
    }
}

struct State {
    ring: Option<Arc<RootKeyring>>,
    source: Option<Source>,
    loaded_at: Option<SystemTime>,
    error: Option<String>,
    last_attempt: Option<Instant>,
}

static STATE: Mutex<State> = Mutex::new(State {
    ring: None,
    source: None,
    loaded_at: None,
    error: None,
    last_attempt: None,
});

/// What `status()` shows about the root key. Never key bytes.
pub struct RootKeyStatus {
    pub loaded: bool,
    pub active_id: Option<String>,
    pub ids: Vec<String>,
    pub fingerprint: Option<String>,
    pub source: Option<Source>,
    pub loaded_at: Option<SystemTime>,
    pub error: Option<String>,
    pub command_set: bool,
}

pub fn init() {
    // SAFETY: a plain global flag the server sets while it loads preload libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        load(Source::Postmaster);
    }
}

/// The root keyring, loading it now if this backend has none yet.
pub fn keyring() -> Result<Arc<RootKeyring>, PrivacyError> {
    {
        let state = lock();
        if let Some(ring) = &state.ring {
            return Ok(ring.clone());
        }
        let recently = state
            .last_attempt
            .is_some_and(|t| t.elapsed() < RETRY_AFTER);
        if recently {
            return Err(PrivacyError::NoRootKey {
                reason: state.error.clone().unwrap_or_else(|| "not loaded".into()),
            });
        }
    }
    load(Source::Backend);
    let state = lock();
    match &state.ring {
        Some(ring) => Ok(ring.clone()),
        None => Err(PrivacyError::NoRootKey {
            reason: state.error.clone().unwrap_or_else(|| "not loaded".into()),
        }),
    }
}

/// Loads the keys if this backend has none (so the status is current), then reports.
pub fn status() -> RootKeyStatus {
    let _ = keyring();
    let state = lock();
    let ring = state.ring.as_deref();
    RootKeyStatus {
        loaded: ring.is_some(),
        active_id: ring.map(|r| r.active().id().to_owned()),
        ids: ring
            .map(|r| r.ids().map(str::to_owned).collect())
            .unwrap_or_default(),
        fingerprint: ring.map(|r| r.active().fingerprint()),
        source: state.source,
        loaded_at: state.loaded_at,
        error: state.error.clone(),
        command_set: gucs::root_key_command().is_some(),
    }
}

fn lock() -> std::sync::MutexGuard<'static, State> {
    // A panic while holding the lock leaves plain data behind; carry on with it.
    STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn load(source: Source) {
    let outcome = match gucs::root_key_command() {
        None => Err("privacy.root_key_command is not set".to_string()),
        Some(cmd) => {
            let timeout = Duration::from_secs(gucs::ROOT_KEY_COMMAND_TIMEOUT.get().max(1) as u64);
            run_command(&cmd, timeout).and_then(|out| {
                parse_root_key_output(&out)
                    .map_err(|e| format!("privacy.root_key_command printed unusable output: {e}"))
            })
        }
    };
    let mut state = lock();
    state.last_attempt = Some(Instant::now());
    match outcome {
        Ok(ring) => {
            let (count, active) = (ring.len(), ring.active().id().to_owned());
            state.ring = Some(Arc::new(ring));
            state.source = Some(source);
            state.loaded_at = Some(SystemTime::now());
            state.error = None;
            drop(state);
            if source == Source::Postmaster {
                log!("pg_privacy: loaded {count} root key(s); active root key id \"{active}\"");
            }
        }
        Err(reason) => {
            let command_set = gucs::root_key_command().is_some();
            state.error = Some(reason.clone());
            drop(state);
            // An unset command is a normal state (the extension works without keys); a failing
            // one is worth a warning, once at start-up or once per backend.
            if command_set {
                warning!("pg_privacy: could not load the root key: {reason}");
            }
        }
    }
}

/// Runs the command with `/bin/sh -c`, stdin closed, and returns what it printed on stdout.
/// Its stderr is read and thrown away: a command that echoes a key there must not put it in the
/// server log.
fn run_command(cmd: &str, timeout: Duration) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start privacy.root_key_command: {}", e.kind()))?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");

    // Capacity is fixed up front so the buffer never reallocates and leaves key bytes behind.
    let out_reader = std::thread::spawn(move || {
        let mut buf = Zeroizing::new(Vec::with_capacity(MAX_OUTPUT + 1));
        let read = (&mut stdout)
            .take(MAX_OUTPUT as u64 + 1)
            .read_to_end(&mut buf);
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        read.map(|_| buf)
    });
    let err_reader = std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // SAFETY: signalling the process group we created for the command.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let _ = child.wait();
                return Err(format!(
                    "privacy.root_key_command did not finish within {} s and was killed",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(format!(
                    "could not wait for privacy.root_key_command: {}",
                    e.kind()
                ))
            }
        }
    };
    let output = out_reader
        .join()
        .map_err(|_| "could not read the output of privacy.root_key_command".to_string())?
        .map_err(|e| {
            format!(
                "could not read the output of privacy.root_key_command: {}",
                e.kind()
            )
        })?;
    let _ = err_reader.join();

    if !status.success() {
        let how = match (status.code(), status.signal()) {
            (Some(127), _) => "exited with status 127 (command not found)".to_string(),
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => format!("was terminated by signal {sig}"),
            (None, None) => "failed".to_string(),
        };
        return Err(format!(
            "privacy.root_key_command {how}; its output is not shown since it may contain key material"
        ));
    }
    if output.len() > MAX_OUTPUT {
        return Err(format!(
            "privacy.root_key_command printed more than {MAX_OUTPUT} bytes"
        ));
    }
    Ok(output)
}

/// `privacy.root_key_fingerprint()`: compare it across clusters before restoring a dump or
/// adding a replica; equal fingerprints mean the same active root key.
#[pg_extern(volatile, parallel_restricted)]
fn root_key_fingerprint() -> String {
    use crate::error::OrRaise;
    let ring = keyring().or_raise();
    format!("{}:{}", ring.active().id(), ring.active().fingerprint())
}
