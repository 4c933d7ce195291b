//! Per-value work of `privacy.reencrypt` (the batching driver is PL/pgSQL, sql/reencrypt.sql):
//! whether a value is behind its key name's active version, and moving it there.

use crate::crypto::decrypt_with;
use crate::error::{OrRaise, PrivacyError};
use crate::keys::cache;
use pg_privacy_core::cipher::{seal, ValueKind};
use pg_privacy_core::envelope::key_id_of;
use pgrx::prelude::*;

/// True when the value's key is not the active version of its name. Destroyed keys give false:
/// nothing can move those values.
fn needs(value: &[u8]) -> bool {
    let id = key_id_of(value)
        .map_err(|e| PrivacyError::Malformed(format!("invalid encrypted value: {e}")))
        .or_raise();
    let key = cache::by_id(id).or_raise();
    if key.status == cache::Status::Destroyed {
        return false;
    }
    cache::active(&key.name).or_raise().id != id
}

fn move_value(kind: ValueKind, value: &[u8], context: Option<&[u8]>) -> Vec<u8> {
    let id = key_id_of(value)
        .map_err(|e| PrivacyError::Malformed(format!("invalid encrypted value: {e}")))
        .or_raise();
    let key = cache::by_id(id).or_raise();
    let active = cache::active(&key.name).or_raise();
    if active.id == id {
        return value.to_vec();
    }
    if !cache::may_decrypt(&key) {
        PrivacyError::DecryptDenied {
            name: key.name.to_string(),
        }
        .raise();
    }
    let plain = decrypt_with(&key, kind, value, context).or_raise();
    seal(active.usable().or_raise(), kind, context, plain.as_bytes())
}

#[pg_extern(sql = false)]
fn needs_reencrypt(value: &[u8]) -> bool {
    needs(value)
}

#[pg_extern(sql = false)]
fn reencrypt_text_value(value: Option<&[u8]>, context: Option<&[u8]>) -> Option<Vec<u8>> {
    value.map(|v| move_value(ValueKind::Text, v, context))
}

#[pg_extern(sql = false)]
fn reencrypt_bytea_value(value: Option<&[u8]>, context: Option<&[u8]>) -> Option<Vec<u8>> {
    value.map(|v| move_value(ValueKind::Bytea, v, context))
}
