//! Errors of the SQL boundary. Modules return typed errors; here they become an `ereport` with
//! a SQLSTATE. No variant carries a key, a plaintext or a command's output.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// No usable root key: the command is unset, failed, or printed something unusable.
    #[error("no root key is loaded: {reason}")]
    NoRootKey { reason: String },
}

impl PrivacyError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            PrivacyError::NoRootKey { .. } => {
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
        }
    }

    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PrivacyError::NoRootKey { .. } => Some(
                "Set privacy.root_key_command in postgresql.conf to a command that prints \
                 \"<key-id> <64 hex characters>\", then restart the server; \
                 privacy.status() shows why the last attempt failed.",
            ),
        }
    }

    /// Raises this error in the current transaction. Never returns.
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), self.to_string(), "pg_privacy");
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// Unwraps a result at the SQL boundary, raising the error with its SQLSTATE.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, PrivacyError> {
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.raise(),
        }
    }
}
