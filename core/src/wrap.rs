//! Data keys, and how they are stored wrapped under the root key.
//!
//! Wrapped form (exactly 61 bytes):
//!
//! ```text
//! 0x01 (format version) | nonce (12, random) | encrypted data key (32) | tag (16)
//! ```
//!
//! AES-256-GCM under the root key, with associated data
//!
//! ```text
//! 0x01 | lp("pg_privacy data key") | lp(root key id) | dek id (u32 BE) | lp(name) | version (u32 BE)
//! ```
//!
//! where `lp(x)` is the length of `x` as u64 big-endian followed by `x`. Every variable-length
//! field is length-prefixed so no two (root key id, name) pairs can produce the same bytes
//! (`("a", "bc")` vs `("ab", "c")`). Binding the row's id, name and version means a wrapped key
//! copied onto another keyring row (to make `customer:43` decrypt with `customer:42`'s key, or
//! to resurrect a destroyed version under a live one) does not unwrap. Binding the root key id
//! means a row claiming a different root key fails instead of being tried. The label keeps
//! these bytes apart from anything else the root key might ever authenticate.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use zeroize::Zeroizing;

use crate::cipher::{os_random, DEK_LEN};
use crate::envelope::{NONCE_LEN, TAG_LEN};
use crate::rootkey::RootKey;

/// The only wrapped-key format version written and read.
pub const WRAP_VERSION: u8 = 0x01;
/// Length of a wrapped data key.
pub const WRAPPED_DEK_LEN: usize = 1 + NONCE_LEN + DEK_LEN + TAG_LEN;

const WRAP_LABEL: &[u8] = b"pg_privacy data key";

/// Why a wrapped data key could not be unwrapped. Never carries key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WrapError {
    #[error("the wrapped data key is malformed: expected {WRAPPED_DEK_LEN} bytes in format version {WRAP_VERSION}")]
    Malformed,
    #[error("the wrapped data key does not unwrap: wrong root key, or the keyring row's id, name or version was changed")]
    AuthenticationFailed,
}

/// A fresh data key from the operating system's CSPRNG, wiped when dropped.
pub fn generate_dek() -> Zeroizing<[u8; DEK_LEN]> {
    let mut dek = Zeroizing::new([0u8; DEK_LEN]);
    os_random(&mut dek[..]);
    dek
}

fn push_lp(aad: &mut Vec<u8>, field: &[u8]) {
    aad.extend_from_slice(&(field.len() as u64).to_be_bytes());
    aad.extend_from_slice(field);
}

fn wrap_aad(root_id: &str, dek_id: u32, name: &str, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + 3 * 8 + WRAP_LABEL.len() + root_id.len() + name.len() + 8);
    aad.push(WRAP_VERSION);
    push_lp(&mut aad, WRAP_LABEL);
    push_lp(&mut aad, root_id.as_bytes());
    aad.extend_from_slice(&dek_id.to_be_bytes());
    push_lp(&mut aad, name.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// Wraps `dek` for storage in keyring row `dek_id` (key `name`, version `version`).
pub fn wrap_dek(
    root: &RootKey,
    dek_id: u32,
    name: &str,
    version: u32,
    dek: &[u8; DEK_LEN],
) -> Vec<u8> {
    let kek = Aes256Gcm::new(GenericArray::from_slice(root.bytes()));
    let mut nonce = [0u8; NONCE_LEN];
    os_random(&mut nonce);
    let mut out = Vec::with_capacity(WRAPPED_DEK_LEN);
    out.push(WRAP_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(dek);
    let aad = wrap_aad(root.id(), dek_id, name, version);
    let tag = kek
        .encrypt_in_place_detached(
            GenericArray::from_slice(&nonce),
            &aad,
            &mut out[1 + NONCE_LEN..],
        )
        .expect("32 bytes are within AES-GCM limits");
    out.extend_from_slice(&tag);
    out
}

/// Unwraps a data key stored by [`wrap_dek`]; every argument must match what it was wrapped
/// with, and `root` must be the root key whose id the keyring row records.
pub fn unwrap_dek(
    root: &RootKey,
    dek_id: u32,
    name: &str,
    version: u32,
    wrapped: &[u8],
) -> Result<Zeroizing<[u8; DEK_LEN]>, WrapError> {
    if wrapped.len() != WRAPPED_DEK_LEN || wrapped[0] != WRAP_VERSION {
        return Err(WrapError::Malformed);
    }
    let nonce = &wrapped[1..1 + NONCE_LEN];
    let tag = &wrapped[1 + NONCE_LEN + DEK_LEN..];
    let mut dek = Zeroizing::new([0u8; DEK_LEN]);
    dek.copy_from_slice(&wrapped[1 + NONCE_LEN..1 + NONCE_LEN + DEK_LEN]);
    let kek = Aes256Gcm::new(GenericArray::from_slice(root.bytes()));
    let aad = wrap_aad(root.id(), dek_id, name, version);
    kek.decrypt_in_place_detached(
        GenericArray::from_slice(nonce),
        &aad,
        &mut dek[..],
        GenericArray::from_slice(tag),
    )
    .map_err(|_| WrapError::AuthenticationFailed)?;
    Ok(dek)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cipher::{open, seal, DataKey, ValueKind};

    fn root(id: &str, fill: u8) -> RootKey {
        RootKey::new(id, [fill; 32]).unwrap()
    }

    #[test]
    fn generated_keys_are_random() {
        let a = generate_dek();
        let b = generate_dek();
        assert_ne!(*a, *b);
        assert!(a.iter().any(|&x| x != 0));
    }

    #[test]
    fn wrap_unwrap_round_trip() {
        let r = root("prod-2026", 0x33);
        let dek = generate_dek();
        let wrapped = wrap_dek(&r, 12, "customer:42", 3, &dek);
        assert_eq!(wrapped.len(), WRAPPED_DEK_LEN);
        assert_eq!(wrapped[0], WRAP_VERSION);
        assert!(!wrapped.windows(8).any(|w| dek.windows(8).any(|d| d == w)));
        let back = unwrap_dek(&r, 12, "customer:42", 3, &wrapped).unwrap();
        assert_eq!(*back, *dek);

        // The unwrapped key works as a data key.
        let k = DataKey::from_bytes(12, &back);
        let env = seal(&DataKey::from_bytes(12, &dek), ValueKind::Text, None, b"x");
        assert_eq!(&open(&k, ValueKind::Text, None, &env).unwrap()[..], b"x");
    }

    #[test]
    fn two_wraps_of_one_key_differ() {
        let r = root("r", 1);
        let dek = generate_dek();
        assert_ne!(wrap_dek(&r, 1, "n", 1, &dek), wrap_dek(&r, 1, "n", 1, &dek));
    }

    #[test]
    fn any_mismatch_fails() {
        let r = root("prod", 0x33);
        let dek = generate_dek();
        let wrapped = wrap_dek(&r, 12, "customer:42", 3, &dek);
        let fail = Err(WrapError::AuthenticationFailed);
        // Other root key bytes, same id.
        assert_eq!(
            unwrap_dek(&root("prod", 0x34), 12, "customer:42", 3, &wrapped),
            fail
        );
        // Same root key bytes, other id.
        assert_eq!(
            unwrap_dek(&root("prod2", 0x33), 12, "customer:42", 3, &wrapped),
            fail
        );
        assert_eq!(unwrap_dek(&r, 13, "customer:42", 3, &wrapped), fail);
        assert_eq!(unwrap_dek(&r, 12, "customer:43", 3, &wrapped), fail);
        assert_eq!(unwrap_dek(&r, 12, "customer:42", 4, &wrapped), fail);
        assert_eq!(unwrap_dek(&r, 12, "", 3, &wrapped), fail);
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        // Without length prefixes ("ab","c") and ("a","bc") would give the same bytes.
        assert_ne!(wrap_aad("ab", 1, "c", 1), wrap_aad("a", 1, "bc", 1));
        let r = root("ab", 5);
        let r2 = root("a", 5);
        let dek = generate_dek();
        let wrapped = wrap_dek(&r, 1, "c", 1, &dek);
        assert_eq!(
            unwrap_dek(&r2, 1, "bc", 1, &wrapped),
            Err(WrapError::AuthenticationFailed)
        );
    }

    #[test]
    fn every_bit_flip_and_wrong_length_fails() {
        let r = root("r", 9);
        let dek = generate_dek();
        let wrapped = wrap_dek(&r, 1, "n", 1, &dek);
        for i in 0..wrapped.len() {
            for bit in 0..8 {
                let mut bad = wrapped.clone();
                bad[i] ^= 1 << bit;
                let want = if i == 0 {
                    WrapError::Malformed
                } else {
                    WrapError::AuthenticationFailed
                };
                assert_eq!(
                    unwrap_dek(&r, 1, "n", 1, &bad),
                    Err(want),
                    "byte {i} bit {bit}"
                );
            }
        }
        for len in 0..wrapped.len() {
            assert_eq!(
                unwrap_dek(&r, 1, "n", 1, &wrapped[..len]),
                Err(WrapError::Malformed)
            );
        }
        let mut longer = wrapped.clone();
        longer.push(0);
        assert_eq!(
            unwrap_dek(&r, 1, "n", 1, &longer),
            Err(WrapError::Malformed)
        );
    }
}
