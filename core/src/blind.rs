//! Blind index: a deterministic keyed hash of a value, so equality search on an encrypted
//! column can use an ordinary btree index without decrypting anything.
//!
//! `index = HMAC-SHA256(subkey, normalise(value))` with
//! `subkey = HMAC-SHA256(index key, "pg_privacy blind index v1")`.
//!
//! The extension gives each key name a random *index key* of its own, separate from the data
//! keys and shared by every version of the name, so stored indexes survive rotation (see
//! keys/keyring.rs). The subkey is derived rather than the index key used directly so that key
//! bytes never serve two purposes; a single HMAC with a fixed label is HKDF-Expand for one
//! 32-byte block, which is all that is needed since the key is already uniformly random.
//! Anyone holding the index key can compute the index; without it the index reveals only
//! equality between values, which is the point.
//!
//! `normalise` = Unicode NFKC, then lower case, then trim white space. NFKC folds
//! compatibility forms: full-width letters and digits (`ＡＢＣ１２３`) become ASCII, half-width
//! katakana becomes full-width, the ideographic space U+3000 becomes a plain space, ligatures
//! split. Lower-casing is Rust's full Unicode `to_lowercase` (not locale-dependent, so every
//! server computes the same index). Changing any of this changes every index value: the label
//! carries a version for that day.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};
use zeroize::Zeroizing;

use crate::cipher::DEK_LEN;

/// Length of a blind index value.
pub const BLIND_INDEX_LEN: usize = 32;

const SUBKEY_LABEL: &[u8] = b"pg_privacy blind index v1";

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The derived subkey, kept so a key cache can hash many values without re-deriving it.
/// Wiped when dropped.
pub struct BlindIndexKey {
    subkey: Zeroizing<[u8; 32]>,
}

impl BlindIndexKey {
    pub fn new(dek: &[u8; DEK_LEN]) -> Self {
        BlindIndexKey {
            subkey: Zeroizing::new(hmac(dek, SUBKEY_LABEL)),
        }
    }

    /// The blind index of `value` after normalisation.
    pub fn index(&self, value: &str) -> [u8; BLIND_INDEX_LEN] {
        let normal = normalise(value);
        hmac(&self.subkey[..], normal.as_bytes())
    }
}

impl std::fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexKey(<redacted>)")
    }
}

/// The blind index of `value` under the 32-byte index key `dek`.
pub fn blind_index(dek: &[u8; DEK_LEN], value: &str) -> [u8; BLIND_INDEX_LEN] {
    BlindIndexKey::new(dek).index(value)
}

/// The form of a value that is hashed: NFKC, lower case, trimmed. The intermediate strings
/// are plaintext, so they are wiped when dropped.
///
/// Most values (ASCII, and most Japanese text) are already NFKC; the quick check recognises
/// them without running the normaliser, which costs several times more than the HMAC. The
/// result is identical either way: the quick check answers "yes" only for NFKC text.
pub fn normalise(value: &str) -> Zeroizing<String> {
    let lower = if is_nfkc_quick(value.chars()) == IsNormalized::Yes {
        Zeroizing::new(value.to_lowercase())
    } else {
        let nfkc: Zeroizing<String> = Zeroizing::new(value.nfkc().collect());
        Zeroizing::new(nfkc.to_lowercase())
    };
    Zeroizing::new(lower.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEK: [u8; 32] = [0x21; 32];

    #[test]
    fn normalisation_examples() {
        let cases = [
            ("  Foo@Example.COM \n", "foo@example.com"),
            ("ＡＢＣ１２３", "abc123"),
            ("０９０－１２３４－５６７８", "090-1234-5678"),
            ("\u{3000}山田\u{3000}", "山田"),
            ("ｶﾀｶﾅ", "カタカナ"),
            ("ﬁle", "file"),
            ("e\u{301}", "\u{e9}"),
            ("ÉCOLE", "école"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(input).as_str(), want, "input {input:?}");
        }
    }

    #[test]
    fn equal_after_normalisation_means_equal_index() {
        assert_eq!(
            blind_index(&DEK, "ＡＢＣ１２３"),
            blind_index(&DEK, "abc123")
        );
        assert_eq!(
            blind_index(&DEK, " Foo@Example.com"),
            blind_index(&DEK, "foo@example.com")
        );
        assert_eq!(blind_index(&DEK, "ｶﾀｶﾅ"), blind_index(&DEK, "カタカナ"));
        assert_ne!(blind_index(&DEK, "abc123"), blind_index(&DEK, "abc124"));
        assert_ne!(blind_index(&DEK, "a b"), blind_index(&DEK, "ab"));
    }

    #[test]
    fn index_depends_on_the_key_and_is_not_a_plain_hash() {
        let other = [0x22; 32];
        assert_ne!(blind_index(&DEK, "x"), blind_index(&other, "x"));
        // Not HMAC under the data key directly (the subkey separates the two uses).
        assert_ne!(blind_index(&DEK, "x"), hmac(&DEK, b"x"));
    }

    #[test]
    fn known_answer() {
        // Pins the construction: HMAC(HMAC(dek, label), "abc123"). Computed independently
        // of `normalise`, from the two HMAC steps.
        let subkey = hmac(&DEK, b"pg_privacy blind index v1");
        assert_eq!(blind_index(&DEK, " ＡＢＣ123 "), hmac(&subkey, b"abc123"));
        // And the bytes themselves, computed with another HMAC implementation (Python's
        // hmac module), so a change of construction or library cannot pass unnoticed.
        let hex: String = blind_index(&DEK, "abc123")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "6e1b672da29226d5fb927aaa29b62980654a34f2b2492d15a2794fd304bb321a"
        );
        let cached = BlindIndexKey::new(&DEK);
        assert_eq!(cached.index("abc123"), hmac(&subkey, b"abc123"));
        assert_eq!(format!("{cached:?}"), "BlindIndexKey(<redacted>)");
    }

    proptest! {
        #[test]
        fn deterministic_and_case_insensitive_for_ascii(s in "[ -~]{0,64}") {
            prop_assert_eq!(blind_index(&DEK, &s), blind_index(&DEK, &s));
            prop_assert_eq!(
                blind_index(&DEK, &s.to_ascii_uppercase()),
                blind_index(&DEK, &s.to_ascii_lowercase())
            );
        }

        #[test]
        fn quick_check_path_equals_full_normalisation(s in any::<String>()) {
            let full: String = s.nfkc().collect::<String>().to_lowercase();
            let got = normalise(&s);
            prop_assert_eq!(got.as_str(), full.trim());
        }

        #[test]
        fn quick_check_path_equals_full_normalisation_japanese(
            s in "[ 　０-９Ａ-Ｚａ-ｚぁ-んァ-ヶｦ-ﾟ一-龥a-zA-Z0-9@.ー-]{0,24}"
        ) {
            let full: String = s.nfkc().collect::<String>().to_lowercase();
            let got = normalise(&s);
            prop_assert_eq!(got.as_str(), full.trim());
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = blind_index(&DEK, &s);
        }
    }
}
