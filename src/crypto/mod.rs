//! Encrypted column types and the functions that encrypt, decrypt and search them.
//!
//! `privacy.encrypted_text` and `privacy.encrypted_bytea` are stored as a plain varlena holding
//! the envelope (pg_privacy_core::envelope), so reading a column costs no decoding; their text
//! form is the armoured envelope (`enc1:` + base64url), which is what pg_dump, COPY and logical
//! replication carry. SQL declarations are in sql/encryption.sql.

use crate::error::{OrRaise, PrivacyError};
use crate::keys::cache;
use pg_privacy_core::cipher::{open_into, seal, CipherError, ValueKind};
use pg_privacy_core::envelope::{decode_armored, encode_armored, key_id_of, Envelope};
use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

mod reencrypt;

/// A decrypted value, decrypted straight into a palloc'd varlena that becomes the result datum
/// (no intermediate copy). If it is dropped instead of returned (re-encryption, an error after
/// decryption), its bytes are zeroed before the memory is freed.
pub struct Plaintext {
    ptr: *mut pg_sys::varlena,
    len: usize,
}

impl Plaintext {
    /// Allocates room for `len` bytes of plaintext in the current memory context.
    fn alloc(len: usize) -> Plaintext {
        // SAFETY: palloc raises on out-of-memory (through pgrx's guard); the header is set at
        // once so the datum is well-formed whatever happens next.
        unsafe {
            let ptr = pg_sys::palloc(len + pg_sys::VARHDRSZ) as *mut pg_sys::varlena;
            pgrx::set_varsize_4b(ptr, (len + pg_sys::VARHDRSZ) as i32);
            Plaintext { ptr, len }
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: ptr holds a 4-byte header followed by len bytes we own.
        unsafe {
            std::slice::from_raw_parts((self.ptr as *const u8).add(pg_sys::VARHDRSZ), self.len)
        }
    }

    fn as_mut_bytes(&mut self) -> &mut [u8] {
        // SAFETY: as above, exclusively borrowed.
        unsafe {
            std::slice::from_raw_parts_mut((self.ptr as *mut u8).add(pg_sys::VARHDRSZ), self.len)
        }
    }
}

impl Drop for Plaintext {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.as_mut_bytes().zeroize();
        // SAFETY: allocated by palloc in alloc() and not handed to PostgreSQL.
        unsafe { pg_sys::pfree(self.ptr.cast()) };
    }
}

impl IntoDatum for Plaintext {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let datum = pg_sys::Datum::from(self.ptr);
        std::mem::forget(self);
        Some(datum)
    }
    fn type_oid() -> pg_sys::Oid {
        pg_sys::BYTEAOID
    }
}

unsafe impl BoxRet for Plaintext {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        match self.into_datum() {
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

// The declared SQL types are in sql/encryption.sql; this mapping is never used for SQL.
impl_sql_translatable!(Plaintext, "bytea");

// ---- type input/output (shared by both types) --------------------------------------------

#[pg_extern(sql = false)]
fn encrypted_in(input: &CStr) -> Vec<u8> {
    let text = input
        .to_str()
        .map_err(|_| {
            PrivacyError::Malformed("invalid input for an encrypted value: not ASCII".into())
        })
        .or_raise();
    decode_armored(text)
        .map_err(|e| PrivacyError::Malformed(format!("invalid input for an encrypted value: {e}")))
        .or_raise()
}

#[pg_extern(sql = false)]
fn encrypted_out(value: &[u8]) -> CString {
    CString::new(encode_armored(value)).expect("base64url has no NUL")
}

#[pg_extern(sql = false)]
fn encrypted_recv(mut internal: pgrx::datum::Internal) -> Vec<u8> {
    // SAFETY: a receive function's argument is the StringInfo holding the wire bytes.
    let buf = unsafe { internal.get_mut::<pg_sys::StringInfoData>() }
        .expect("receive functions get a StringInfo");
    let start = buf.cursor as usize;
    let len = buf.len as usize;
    // SAFETY: data holds len bytes; we consume them all.
    let bytes =
        unsafe { std::slice::from_raw_parts((buf.data as *const u8).add(start), len - start) }
            .to_vec();
    buf.cursor = buf.len;
    Envelope::parse(&bytes)
        .map_err(|e| {
            PrivacyError::Malformed(format!("invalid binary input for an encrypted value: {e}"))
        })
        .or_raise();
    bytes
}

#[pg_extern(sql = false)]
fn encrypted_send(value: &[u8]) -> &[u8] {
    value
}

// ---- encrypt / decrypt ---------------------------------------------------------------------

fn encrypt(
    kind: ValueKind,
    value: &[u8],
    key_name: Option<&str>,
    context: Option<&[u8]>,
) -> Vec<u8> {
    let Some(key_name) = key_name else {
        PrivacyError::InvalidParameter("the key name must not be NULL".into()).raise()
    };
    let key = cache::active(key_name).or_raise();
    let data_key = key.usable().or_raise();
    seal(data_key, kind, context, value)
}

#[pg_extern(sql = false)]
fn encrypt_text(
    value: Option<&[u8]>,
    key_name: Option<&str>,
    context: Option<&[u8]>,
) -> Option<Vec<u8>> {
    value.map(|v| encrypt(ValueKind::Text, v, key_name, context))
}

#[pg_extern(sql = false)]
fn encrypt_bytea(
    value: Option<&[u8]>,
    key_name: Option<&str>,
    context: Option<&[u8]>,
) -> Option<Vec<u8>> {
    value.map(|v| encrypt(ValueKind::Bytea, v, key_name, context))
}

/// Decrypts one value. With `null_if_unavailable` (try_decrypt), a value the caller may not
/// read, or whose key is revoked or destroyed, gives `Ok(None)`: a masked view over a table with
/// one shredded customer must keep working for everyone else. Integrity failures (altered
/// value, wrong context, malformed input) always raise.
fn decrypt(
    kind: ValueKind,
    value: &[u8],
    context: Option<&[u8]>,
    null_if_unavailable: bool,
) -> Result<Option<Plaintext>, PrivacyError> {
    let id = key_id_of(value)
        .map_err(|e| PrivacyError::Malformed(format!("invalid encrypted value: {e}")))?;
    let key = cache::by_id(id)?;
    let granted = cache::may_decrypt(&key);
    crate::audit::hook::note_decrypt(key.id, &key.name, granted);
    if !granted {
        if null_if_unavailable {
            return Ok(None);
        }
        return Err(PrivacyError::DecryptDenied {
            name: key.name.to_string(),
        });
    }
    match decrypt_with(&key, kind, value, context) {
        Ok(plain) => Ok(Some(plain)),
        Err(PrivacyError::KeyRevoked { .. } | PrivacyError::KeyDestroyed { .. })
            if null_if_unavailable =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Opens a value with a key already looked up (and permission already checked), straight into
/// the memory of the result.
pub(crate) fn decrypt_with(
    key: &cache::CachedKey,
    kind: ValueKind,
    value: &[u8],
    context: Option<&[u8]>,
) -> Result<Plaintext, PrivacyError> {
    let malformed = |e| PrivacyError::Malformed(format!("invalid encrypted value: {e}"));
    let data_key = key.usable()?;
    let len = Envelope::parse(value).map_err(malformed)?.plaintext_len();
    let mut plain = Plaintext::alloc(len);
    match open_into(data_key, kind, context, value, plain.as_mut_bytes()) {
        Ok(()) => Ok(plain),
        Err(CipherError::Envelope(e)) => Err(malformed(e)),
        Err(_) => Err(PrivacyError::DecryptFailed),
    }
}

thread_local! {
    static DATABASE_IS_UTF8: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Text must be valid in this database's encoding: a value encrypted in a database with
/// another encoding (a dump restored elsewhere) is refused rather than returned corrupt. In a
/// UTF-8 database (the common case) Rust's validator does it, several times faster than
/// pg_verifymbstr on multi-byte text and without a call into the server per row.
fn checked_text(plain: Option<Plaintext>) -> Option<Plaintext> {
    if let Some(p) = &plain {
        let utf8 = DATABASE_IS_UTF8.with(|c| match c.get() {
            Some(known) => known,
            None => {
                // SAFETY: reads the database encoding, fixed for the session.
                let known =
                    unsafe { pg_sys::GetDatabaseEncoding() } == pg_sys::pg_enc::PG_UTF8 as i32;
                c.set(Some(known));
                known
            }
        });
        if utf8 {
            if std::str::from_utf8(p.as_bytes()).is_err() {
                PrivacyError::InvalidText.raise();
            }
        } else {
            // SAFETY: verifies len bytes at ptr; with noError = false it raises 22021 itself.
            unsafe {
                pg_sys::pg_verifymbstr(
                    p.as_bytes().as_ptr() as *const std::ffi::c_char,
                    p.len as i32,
                    false,
                )
            };
        }
    }
    plain
}

#[pg_extern(sql = false)]
fn decrypt_text(value: Option<&[u8]>, context: Option<&[u8]>) -> Option<Plaintext> {
    value.and_then(|v| checked_text(decrypt(ValueKind::Text, v, context, false).or_raise()))
}

#[pg_extern(sql = false)]
fn decrypt_bytea(value: Option<&[u8]>, context: Option<&[u8]>) -> Option<Plaintext> {
    value.and_then(|v| decrypt(ValueKind::Bytea, v, context, false).or_raise())
}

#[pg_extern(sql = false)]
fn try_decrypt_text(value: Option<&[u8]>, context: Option<&[u8]>) -> Option<Plaintext> {
    value.and_then(|v| checked_text(decrypt(ValueKind::Text, v, context, true).or_raise()))
}

#[pg_extern(sql = false)]
fn try_decrypt_bytea(value: Option<&[u8]>, context: Option<&[u8]>) -> Option<Plaintext> {
    value.and_then(|v| decrypt(ValueKind::Bytea, v, context, true).or_raise())
}

/// `name:version` of the key a value was encrypted with. Needs no key and no grant.
#[pg_extern(sql = false)]
fn key_of(value: &[u8]) -> String {
    let id = key_id_of(value)
        .map_err(|e| PrivacyError::Malformed(format!("invalid encrypted value: {e}")))
        .or_raise();
    cache::by_id(id).or_raise().label()
}

/// Deterministic keyed HMAC of the normalised value, for equality search, under the key name's
/// blind-index key (the same for every version, so stored indexes survive rotation). Needs a
/// decrypt grant, since a blind index of a guessed value confirms the guess.
#[pg_extern(sql = false)]
fn blind_index(value: &str, key_name: &str) -> Vec<u8> {
    let key = cache::active(key_name).or_raise();
    if !cache::may_decrypt(&key) {
        PrivacyError::DecryptDenied {
            name: key.name.to_string(),
        }
        .raise();
    }
    key.blind_key().or_raise().index(value).to_vec()
}
