//! Errors of the SQL boundary. Modules return typed errors; here they become an `ereport` with
//! a SQLSTATE. No variant carries a key, a plaintext or a command's output: key names, versions
//! and ids are public (they are in `privacy.keys`).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

#[derive(Debug, Clone, thiserror::Error)]
pub enum PrivacyError {
    /// No usable root key: the command is unset, failed, or printed something unusable.
    #[error("no root key is loaded: {reason}")]
    NoRootKey { reason: String },
    #[error("data key \"{key}\" is wrapped under root key \"{root_id}\", which is not loaded")]
    RootKeyMissing { root_id: String, key: String },
    #[error("key \"{name}\" does not exist")]
    UnknownKey { name: String },
    #[error("the value was encrypted with data key id {id}, which is not in privacy.keyring")]
    UnknownKeyId { id: u32 },
    #[error("key \"{name}\" already exists")]
    DuplicateKey { name: String },
    #[error("key \"{name}\" has no active version")]
    NoActiveVersion { name: String },
    #[error("data key \"{key}\" is revoked")]
    KeyRevoked { key: String },
    #[error("data key \"{key}\" was destroyed: values encrypted with it can never be decrypted")]
    KeyDestroyed { key: String },
    #[error("data key \"{key}\" does not unwrap: its root key differs from the one loaded under the same id, or the keyring row was altered")]
    KeyCorrupt { key: String },
    #[error("permission denied to decrypt with key \"{name}\"")]
    DecryptDenied { name: String },
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("decryption failed: the value was altered, or the context does not match the one it was encrypted with")]
    DecryptFailed,
    #[error("the decrypted value is not valid text in this database's encoding (it was encrypted in a database with another encoding)")]
    InvalidText,
    #[error("{0}")]
    TooLong(String),
    #[error("pg_privacy internal error: {what}")]
    Internal { what: String },
}

impl PrivacyError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        use PrivacyError::*;
        match self {
            NoRootKey { .. }
            | RootKeyMissing { .. }
            | NoActiveVersion { .. }
            | KeyRevoked { .. }
            | KeyDestroyed { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            UnknownKey { .. } | UnknownKeyId { .. } => ERRCODE_UNDEFINED_OBJECT,
            DuplicateKey { .. } => ERRCODE_DUPLICATE_OBJECT,
            KeyCorrupt { .. } => ERRCODE_DATA_CORRUPTED,
            DecryptDenied { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            Malformed(_) => ERRCODE_INVALID_TEXT_REPRESENTATION,
            InvalidParameter(_) | DecryptFailed => ERRCODE_INVALID_PARAMETER_VALUE,
            InvalidText => ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
            TooLong(_) => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            Internal { .. } => ERRCODE_INTERNAL_ERROR,
        }
    }

    pub fn hint(&self) -> Option<String> {
        use PrivacyError::*;
        match self {
            NoRootKey { .. } => Some(
                "Set privacy.root_key_command in postgresql.conf to a command that prints \
                 \"<key-id> <64 hex characters>\", then restart the server; \
                 privacy.status() shows why the last attempt failed."
                    .into(),
            ),
            RootKeyMissing { root_id, .. } => Some(format!(
                "List root key \"{root_id}\" after the active one in the output of \
                 privacy.root_key_command, restart, and run privacy.rewrap_keys()."
            )),
            NoActiveVersion { name } => Some(format!(
                "Restore a revoked version with privacy.restore_key('{name}'), or create a new key."
            )),
            KeyRevoked { .. } => Some("privacy.restore_key() undoes a revocation.".into()),
            DecryptDenied { name } => Some(format!(
                "An administrator can allow it with privacy.grant_decrypt('{name}', <role>)."
            )),
            _ => None,
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
