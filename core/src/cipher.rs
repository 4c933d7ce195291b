//! Encrypting and decrypting one value under a data key (AES-256-GCM).
//!
//! Associated data, authenticated but not stored beyond what the envelope already holds:
//!
//! ```text
//! version (1) | key id (u32 BE) | kind (1: 0x01 text, 0x02 bytea) | context flag (1: 0 none, 1 present) | context bytes
//! ```
//!
//! Binding the version and key id means a value relabelled with another key id, or read as
//! another format version, fails authentication instead of being tried under the wrong key.
//! Binding the kind means an `encrypted_bytea` cast or copied into an `encrypted_text` column
//! does not decrypt (so invalid UTF-8 can never reach a text value). Binding the context
//! (typically the row's primary key) means a ciphertext copied to another row does not
//! decrypt. The flag byte keeps "no context" distinct from an empty context. The context is
//! last, so its length needs no prefix: everything before it has a fixed size.
//!
//! Nonces are 96 random bits from the operating system per value. With random nonces NIST
//! SP 800-38D advises at most 2^32 encryptions per key; `rotate_key` is how a very busy key
//! stays under that bound.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use zeroize::Zeroizing;

use crate::envelope::{
    write_header, Envelope, EnvelopeError, ENVELOPE_VERSION, MIN_ENVELOPE_LEN, NONCE_LEN,
};

/// Length of a data key in bytes.
pub const DEK_LEN: usize = 32;

/// Which SQL type a value belongs to; bound into the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Text,
    Bytea,
}

impl ValueKind {
    fn aad_byte(self) -> u8 {
        match self {
            ValueKind::Text => 0x01,
            ValueKind::Bytea => 0x02,
        }
    }
}

/// Why a value could not be decrypted. No variant carries key, plaintext or ciphertext bytes;
/// key ids are public (they are in the envelope and in `privacy.keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("the value was encrypted with data key {found}, not with data key {expected}")]
    WrongKeyId { expected: u32, found: u32 },
    #[error("decryption failed: the value was altered, or the context or key does not match")]
    AuthenticationFailed,
}

/// An unwrapped data key, ready to use: the AES key schedule and GHASH key are computed once
/// here, so a per-backend cache of `DataKey`s makes each value cost only the cipher itself.
/// Both are wiped when the key is dropped (the `aes` and `polyval` crates' `zeroize`
/// features, switched on in Cargo.toml).
pub struct DataKey {
    id: u32,
    aead: Aes256Gcm,
}

impl DataKey {
    /// Prepares a data key. `id` is its keyring row id, written into every envelope it seals.
    pub fn from_bytes(id: u32, key: &[u8; DEK_LEN]) -> Self {
        DataKey {
            id,
            aead: Aes256Gcm::new(GenericArray::from_slice(key)),
        }
    }

    pub fn id(&self) -> u32 {
        self.id
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Fills `buf` from the operating system's CSPRNG.
///
/// Panics if the OS cannot provide randomness: on Linux `getrandom(2)` only fails that way
/// before the pool is first seeded or under seccomp misconfiguration, and carrying on with a
/// predictable nonce or key would be worse than stopping (pgrx turns the panic into an ERROR).
pub(crate) fn os_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// Longest context kept on the stack when building the associated data; longer ones allocate.
const INLINE_CONTEXT: usize = 128;
const AAD_FIXED: usize = 1 + 4 + 1 + 1;

/// Calls `f` with the associated data for these parameters, without allocating for contexts
/// up to `INLINE_CONTEXT` bytes (a primary key is far shorter).
fn with_aad<R>(
    key_id: u32,
    kind: ValueKind,
    context: Option<&[u8]>,
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    let ctx = context.unwrap_or(&[]);
    let fixed = |buf: &mut [u8]| {
        buf[0] = ENVELOPE_VERSION;
        buf[1..5].copy_from_slice(&key_id.to_be_bytes());
        buf[5] = kind.aad_byte();
        buf[6] = u8::from(context.is_some());
    };
    let len = AAD_FIXED + ctx.len();
    if ctx.len() <= INLINE_CONTEXT {
        let mut buf = [0u8; AAD_FIXED + INLINE_CONTEXT];
        fixed(&mut buf);
        buf[AAD_FIXED..len].copy_from_slice(ctx);
        f(&buf[..len])
    } else {
        let mut buf = vec![0u8; len];
        fixed(&mut buf);
        buf[AAD_FIXED..].copy_from_slice(ctx);
        f(&buf)
    }
}

/// Encrypts `plaintext` and returns the whole envelope.
///
/// Panics only if the OS random number generator fails (see `os_random`) or the plaintext
/// exceeds AES-GCM's limit of 64 GiB, far above PostgreSQL's 1 GB datum limit.
pub fn seal(key: &DataKey, kind: ValueKind, context: Option<&[u8]>, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MIN_ENVELOPE_LEN + plaintext.len());
    seal_into(key, kind, context, plaintext, &mut out);
    out
}

/// Like [`seal`], but appends the envelope to `out`: a loop encrypting many values can reuse
/// one buffer (or write straight into a datum allocation) instead of allocating per value.
///
/// The plaintext is copied into `out` and encrypted there; room is reserved first, so no
/// reallocation can leave a plaintext copy behind in freed memory.
pub fn seal_into(
    key: &DataKey,
    kind: ValueKind,
    context: Option<&[u8]>,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) {
    let mut nonce = [0u8; NONCE_LEN];
    crate::nonce::fill(&mut nonce);
    out.reserve(MIN_ENVELOPE_LEN + plaintext.len());
    write_header(out, key.id, &nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = with_aad(key.id, kind, context, |aad| {
        key.aead
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, &mut out[start..])
    })
    .expect("plaintext larger than AES-GCM allows (64 GiB)");
    out.extend_from_slice(&tag);
}

/// Decrypts an envelope sealed by [`seal`] with the same key, kind and context.
///
/// The key id is checked first so that a caller who looked the key up by
/// [`crate::envelope::key_id_of`] gets a precise error if it passed another key; every other
/// mismatch (key bytes, kind, context, any altered bit) is `AuthenticationFailed`, because
/// GCM cannot tell them apart and saying more would help an attacker.
pub fn open(
    key: &DataKey,
    kind: ValueKind,
    context: Option<&[u8]>,
    envelope: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    let env = Envelope::parse(envelope)?;
    if env.key_id() != key.id {
        return Err(CipherError::WrongKeyId {
            expected: key.id,
            found: env.key_id(),
        });
    }
    // Zeroizing from the start: the buffer holds plaintext once decryption succeeds, and the
    // caller may drop it at any point after.
    let mut buf = Zeroizing::new(vec![0u8; env.plaintext_len()]);
    open_parsed(key, kind, context, &env, &mut buf)?;
    Ok(buf)
}

/// Like [`open`], but decrypts into `out`, which must be exactly
/// [`Envelope::plaintext_len`] bytes: a caller can decrypt straight into the memory it returns
/// (a PostgreSQL datum) with no intermediate copy. The tag is verified before anything is
/// decrypted, so after an error `out` holds ciphertext, never plaintext.
pub fn open_into(
    key: &DataKey,
    kind: ValueKind,
    context: Option<&[u8]>,
    envelope: &[u8],
    out: &mut [u8],
) -> Result<(), CipherError> {
    let env = Envelope::parse(envelope)?;
    if env.key_id() != key.id {
        return Err(CipherError::WrongKeyId {
            expected: key.id,
            found: env.key_id(),
        });
    }
    assert_eq!(
        out.len(),
        env.plaintext_len(),
        "open_into needs a buffer of the plaintext's length"
    );
    open_parsed(key, kind, context, &env, out)
}

fn open_parsed(
    key: &DataKey,
    kind: ValueKind,
    context: Option<&[u8]>,
    env: &Envelope<'_>,
    out: &mut [u8],
) -> Result<(), CipherError> {
    out.copy_from_slice(env.ciphertext());
    with_aad(key.id, kind, context, |aad| {
        key.aead.decrypt_in_place_detached(
            GenericArray::from_slice(env.nonce()),
            aad,
            out,
            GenericArray::from_slice(env.tag()),
        )
    })
    .map_err(|_| CipherError::AuthenticationFailed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{key_id_of, HEADER_LEN, TAG_LEN};
    use proptest::prelude::*;

    fn key(id: u32, fill: u8) -> DataKey {
        DataKey::from_bytes(id, &[fill; DEK_LEN])
    }

    #[test]
    fn open_into_matches_open_and_leaves_no_plaintext_on_failure() {
        let k = key(9, 0x11);
        let env = seal(&k, ValueKind::Text, Some(b"ctx"), b"secret value");
        let mut out = vec![0u8; Envelope::parse(&env).unwrap().plaintext_len()];
        open_into(&k, ValueKind::Text, Some(b"ctx"), &env, &mut out).unwrap();
        assert_eq!(&out[..], b"secret value");
        let mut out = vec![0u8; out.len()];
        assert_eq!(
            open_into(&k, ValueKind::Text, Some(b"other"), &env, &mut out),
            Err(CipherError::AuthenticationFailed)
        );
        assert!(
            !out.windows(6).any(|w| w == b"secret"),
            "plaintext after a failed open"
        );
    }

    #[test]
    fn text_and_bytea_round_trip() {
        let k = key(7, 0x42);
        for kind in [ValueKind::Text, ValueKind::Bytea] {
            for ctx in [None, Some(&b""[..]), Some(&b"customer:42"[..])] {
                let env = seal(&k, kind, ctx, b"4111 1111 1111 1111");
                assert_eq!(env.len(), MIN_ENVELOPE_LEN + 19);
                assert_eq!(key_id_of(&env), Ok(7));
                assert_eq!(
                    &open(&k, kind, ctx, &env).unwrap()[..],
                    b"4111 1111 1111 1111"
                );
            }
        }
    }

    #[test]
    fn empty_value_round_trips() {
        let k = key(1, 1);
        let env = seal(&k, ValueKind::Text, None, b"");
        assert_eq!(env.len(), MIN_ENVELOPE_LEN);
        assert!(open(&k, ValueKind::Text, None, &env).unwrap().is_empty());
    }

    #[test]
    fn one_megabyte_round_trips() {
        let k = key(1, 1);
        let value: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 31 % 251) as u8).collect();
        let env = seal(&k, ValueKind::Bytea, Some(b"row 1"), &value);
        assert_eq!(env.len(), MIN_ENVELOPE_LEN + value.len());
        assert_ne!(&env[HEADER_LEN..HEADER_LEN + 64], &value[..64]);
        assert_eq!(
            &open(&k, ValueKind::Bytea, Some(b"row 1"), &env).unwrap()[..],
            &value[..]
        );
    }

    #[test]
    fn unicode_round_trips() {
        let k = key(1, 1);
        let value = "山田 太郎 ｙａｍａｄａ＠例え.jp 🙂 e\u{301}";
        let env = seal(
            &k,
            ValueKind::Text,
            Some("顧客:42".as_bytes()),
            value.as_bytes(),
        );
        let out = open(&k, ValueKind::Text, Some("顧客:42".as_bytes()), &env).unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), value);
    }

    #[test]
    fn long_context_round_trips_and_is_bound() {
        let k = key(1, 1);
        let long = vec![b'x'; INLINE_CONTEXT + 50];
        let mut other = long.clone();
        *other.last_mut().unwrap() = b'y';
        let env = seal(&k, ValueKind::Text, Some(&long), b"v");
        assert_eq!(
            &open(&k, ValueKind::Text, Some(&long), &env).unwrap()[..],
            b"v"
        );
        assert_eq!(
            open(&k, ValueKind::Text, Some(&other), &env),
            Err(CipherError::AuthenticationFailed)
        );
        // Exactly at the inline boundary.
        let edge = vec![b'z'; INLINE_CONTEXT];
        let env = seal(&k, ValueKind::Text, Some(&edge), b"v");
        assert_eq!(
            &open(&k, ValueKind::Text, Some(&edge), &env).unwrap()[..],
            b"v"
        );
    }

    #[test]
    fn wrong_context_kind_or_key_fails() {
        let k = key(3, 0x11);
        let env = seal(&k, ValueKind::Text, Some(b"row 1"), b"secret");
        let fail = Err(CipherError::AuthenticationFailed);
        assert_eq!(open(&k, ValueKind::Text, Some(b"row 2"), &env), fail);
        assert_eq!(open(&k, ValueKind::Text, None, &env), fail);
        assert_eq!(open(&k, ValueKind::Text, Some(b""), &env), fail);
        assert_eq!(open(&k, ValueKind::Bytea, Some(b"row 1"), &env), fail);
        // Same id, other key bytes (e.g. a restored keyring from another cluster).
        assert_eq!(
            open(&key(3, 0x12), ValueKind::Text, Some(b"row 1"), &env),
            fail
        );
    }

    #[test]
    fn no_context_and_empty_context_differ() {
        let k = key(3, 0x11);
        let none = seal(&k, ValueKind::Bytea, None, b"v");
        let empty = seal(&k, ValueKind::Bytea, Some(b""), b"v");
        let fail = Err(CipherError::AuthenticationFailed);
        assert_eq!(open(&k, ValueKind::Bytea, Some(b""), &none), fail);
        assert_eq!(open(&k, ValueKind::Bytea, None, &empty), fail);
    }

    #[test]
    fn key_id_is_checked_and_bound() {
        let k3 = key(3, 0x11);
        let env = seal(&k3, ValueKind::Text, None, b"v");
        assert_eq!(
            open(&key(4, 0x11), ValueKind::Text, None, &env),
            Err(CipherError::WrongKeyId {
                expected: 4,
                found: 3
            })
        );
        // Relabelling the envelope with the id of a key that has the same bytes must not
        // decrypt: the id is in the associated data.
        let mut relabelled = env.clone();
        relabelled[1..5].copy_from_slice(&4u32.to_be_bytes());
        assert_eq!(
            open(&key(4, 0x11), ValueKind::Text, None, &relabelled),
            Err(CipherError::AuthenticationFailed)
        );
    }

    #[test]
    fn nonces_differ_between_seals() {
        let k = key(1, 1);
        let a = seal(&k, ValueKind::Text, None, b"same");
        let b = seal(&k, ValueKind::Text, None, b"same");
        assert_ne!(a[5..HEADER_LEN], b[5..HEADER_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn seal_into_appends_and_matches_seal() {
        let k = key(9, 9);
        let mut buf = b"prefix".to_vec();
        seal_into(&k, ValueKind::Text, Some(b"c"), b"hello", &mut buf);
        assert_eq!(&buf[..6], b"prefix");
        assert_eq!(buf.len(), 6 + MIN_ENVELOPE_LEN + 5);
        assert_eq!(
            &open(&k, ValueKind::Text, Some(b"c"), &buf[6..]).unwrap()[..],
            b"hello"
        );
        buf.clear();
        seal_into(&k, ValueKind::Text, None, b"again", &mut buf);
        assert_eq!(
            &open(&k, ValueKind::Text, None, &buf).unwrap()[..],
            b"again"
        );
    }

    #[test]
    fn every_bit_flip_and_truncation_fails_cleanly() {
        let k = key(5, 0x5a);
        let env = seal(&k, ValueKind::Text, Some(b"ctx"), b"a sample value");
        for i in 0..env.len() {
            for bit in 0..8 {
                let mut bad = env.clone();
                bad[i] ^= 1 << bit;
                let err = open(&k, ValueKind::Text, Some(b"ctx"), &bad).unwrap_err();
                let want_ok = match i {
                    0 => matches!(err, CipherError::Envelope(EnvelopeError::UnknownVersion)),
                    1..=4 => matches!(err, CipherError::WrongKeyId { .. }),
                    _ => err == CipherError::AuthenticationFailed,
                };
                assert!(want_ok, "byte {i} bit {bit}: {err:?}");
            }
        }
        for len in 0..env.len() {
            let err = open(&k, ValueKind::Text, Some(b"ctx"), &env[..len]).unwrap_err();
            let want_ok = match len {
                0 => err == CipherError::Envelope(EnvelopeError::Empty),
                l if l < MIN_ENVELOPE_LEN => {
                    err == CipherError::Envelope(EnvelopeError::TooShort { len })
                }
                _ => err == CipherError::AuthenticationFailed,
            };
            assert!(want_ok, "length {len}: {err:?}");
        }
        // Extending is no better than truncating.
        let mut longer = env.clone();
        longer.push(0);
        assert_eq!(
            open(&k, ValueKind::Text, Some(b"ctx"), &longer),
            Err(CipherError::AuthenticationFailed)
        );
    }

    #[test]
    fn ciphertext_is_not_the_plaintext() {
        let k = key(1, 1);
        let plain = b"a recognisable plaintext string";
        let env = seal(&k, ValueKind::Text, None, plain);
        assert!(!env.windows(8).any(|w| plain.windows(8).any(|p| p == w)));
        assert_eq!(env.len() - HEADER_LEN - TAG_LEN, plain.len());
    }

    #[test]
    fn key_schedule_is_wiped_on_drop() {
        // Compiles only while the `aes` crate's `zeroize` feature is on: a dependency change
        // that silently dropped it would otherwise leave round keys in freed memory.
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<aes::Aes256>();
    }

    #[test]
    fn debug_and_errors_never_show_secrets() {
        let k = key(77, 0xab);
        let shown = format!("{k:?}");
        assert!(shown.contains("77") && shown.contains("<redacted>"));
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("abab"));
        for e in [
            CipherError::AuthenticationFailed,
            CipherError::WrongKeyId {
                expected: 1,
                found: 2,
            },
            CipherError::Envelope(EnvelopeError::TooShort { len: 3 }),
        ] {
            assert!(!e.to_string().is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn seal_open_round_trip(
            id in any::<u32>(),
            key_bytes in any::<[u8; DEK_LEN]>(),
            bytea in any::<bool>(),
            ctx in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            plain in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let k = DataKey::from_bytes(id, &key_bytes);
            let kind = if bytea { ValueKind::Bytea } else { ValueKind::Text };
            let env = seal(&k, kind, ctx.as_deref(), &plain);
            prop_assert_eq!(key_id_of(&env), Ok(id));
            let out = open(&k, kind, ctx.as_deref(), &env).unwrap();
            prop_assert_eq!(&out[..], &plain[..]);
        }

        #[test]
        fn open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let k = key(u32::from_be_bytes([1, 1, 1, 1]), 3);
            prop_assert!(open(&k, ValueKind::Text, None, &bytes).is_err());
        }
    }
}
