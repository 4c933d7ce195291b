//! Masking functions and PII redaction: thin wrappers over pg_privacy_core::mask and
//! pg_privacy_core::redact. SQL-only members (generalize for dates and numerics, noise,
//! scan_table) are in sql/masking.sql.

pub mod policy;
pub mod redaction;

use crate::error::{OrRaise, PrivacyError};
use crate::keys::cache;
use pg_privacy_core::mask;
use pgrx::prelude::*;

fn invalid(e: mask::MaskError) -> PrivacyError {
    match e {
        mask::MaskError::ResultTooLong => PrivacyError::TooLong(e.to_string()),
        _ => PrivacyError::InvalidParameter(e.to_string()),
    }
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mask_partial(
    value: &str,
    keep_start: i32,
    keep_end: i32,
    fill: default!(&str, "'*'"),
) -> String {
    mask::mask_partial(value, keep_start, keep_end, fill)
        .map_err(invalid)
        .or_raise()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mask_email(value: &str) -> String {
    mask::mask_email(value)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mask_phone(value: &str) -> String {
    mask::mask_phone(value)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mask_card(value: &str) -> String {
    mask::mask_card(value)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mask_name(value: &str) -> String {
    mask::mask_name(value)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mask_my_number(value: &str) -> String {
    mask::mask_my_number(value)
}

#[pg_extern(immutable, strict, parallel_safe, name = "generalize")]
fn generalize_bigint(value: i64, step: i64) -> i64 {
    mask::generalize_int(value, step)
        .map_err(invalid)
        .or_raise()
}

#[pg_extern(immutable, strict, parallel_safe, name = "generalize")]
fn generalize_int(value: i32, step: i32) -> i32 {
    // The bucket's lower bound of an int is within int range unless it is below i32::MIN.
    let bound = mask::generalize_int(value as i64, step as i64)
        .map_err(invalid)
        .or_raise();
    i32::try_from(bound)
        .map_err(|_| {
            PrivacyError::InvalidParameter(
                "the bucket's lower bound is out of range for integer".into(),
            )
        })
        .or_raise()
}

/// A keyed token: the same value gives the same token under the same key name, so pseudonymised
/// columns still join and group; without the key it cannot be reversed or recomputed. The token
/// key is the key name's index key (shared by its versions), under a label of its own.
#[pg_extern(stable, strict, parallel_restricted)]
fn pseudonymize(value: &str, key_name: &str) -> String {
    let key = cache::active(key_name).or_raise();
    key.pseudonym_key().or_raise().token(value)
}
