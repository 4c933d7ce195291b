//! The root key (key-encryption key) that the customer brings.
//!
//! `privacy.root_key_command` prints one line per root key, `<key-id> <64 hex chars>`. The
//! first line is the active key; the others are older root keys still accepted when unwrapping
//! data keys, so a root key rotation is "put the new key first, rewrap, then drop the old line".
//!
//! Every error here describes *where* and *what kind* of problem the output has, never the
//! output itself: whatever the command printed may be key material.

use zeroize::{Zeroize, Zeroizing};

/// Length of a root key in bytes (AES-256).
pub const ROOT_KEY_LEN: usize = 32;

/// Longest accepted key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 64;

/// Most root key lines accepted; more is surely a command printing the wrong thing.
pub const MAX_ROOT_KEYS: usize = 32;

/// Why the command's output was refused. No variant carries any of the output's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootKeyError {
    #[error("the output is empty: expected at least one line \"<key-id> <64 hex characters>\"")]
    Empty,
    #[error("the output is not valid UTF-8")]
    NotUtf8,
    #[error(
        "line {line}: expected \"<key-id> <64 hex characters>\" separated by one space or tab"
    )]
    WrongFieldCount { line: usize },
    #[error("line {line}: the key id must be 1 to {max} characters of A-Z a-z 0-9 . _ : -", max = MAX_KEY_ID_LEN)]
    BadKeyId { line: usize },
    #[error("line {line}: the key must be exactly 64 hexadecimal characters (32 bytes), found {found} characters")]
    BadKeyLength { line: usize, found: usize },
    #[error("line {line}: the key contains a character that is not hexadecimal")]
    BadKeyHex { line: usize },
    #[error("line {line}: key id duplicates an earlier line")]
    DuplicateKeyId { line: usize },
    #[error("line {line}: the key is all zero bytes, which is never a real key")]
    ZeroKey { line: usize },
    #[error("more than {max} root keys", max = MAX_ROOT_KEYS)]
    TooMany,
}

/// One root key. The bytes are zeroed when it is dropped, and `Debug` never shows them.
#[derive(Clone)]
pub struct RootKey {
    id: String,
    key: Zeroizing<[u8; ROOT_KEY_LEN]>,
}

impl RootKey {
    /// Builds a key from its id and bytes (the id is checked like a parsed one).
    pub fn new(id: &str, key: [u8; ROOT_KEY_LEN]) -> Result<Self, RootKeyError> {
        let mut key = Zeroizing::new(key);
        if !valid_key_id(id) {
            key.zeroize();
            return Err(RootKeyError::BadKeyId { line: 1 });
        }
        Ok(RootKey {
            id: id.to_owned(),
            key,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// A short public fingerprint: the first 8 bytes of HMAC-SHA256 under the key of a fixed
    /// label, in hex. Two clusters with the same fingerprint hold the same root key, so a dump
    /// restores there; the fingerprint reveals nothing usable about the key.
    pub fn fingerprint(&self) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key[..])
            .expect("HMAC takes a key of any length");
        mac.update(b"pg_privacy root key fingerprint v1");
        let tag = mac.finalize().into_bytes();
        tag[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key bytes, for the wrapping code only.
    pub fn bytes(&self) -> &[u8; ROOT_KEY_LEN] {
        &self.key
    }
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The root keys the command printed: the first is active, the rest still unwrap.
#[derive(Debug, Clone)]
pub struct RootKeyring {
    keys: Vec<RootKey>,
}

impl RootKeyring {
    /// The key new data keys are wrapped under.
    pub fn active(&self) -> &RootKey {
        &self.keys[0]
    }

    /// Finds a key by id, active or older.
    pub fn get(&self, id: &str) -> Option<&RootKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// All ids, active first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses what `privacy.root_key_command` printed.
///
/// Blank lines and lines starting with `#` are ignored; a trailing `\r` is tolerated. The
/// caller should zero its copy of `output` afterwards (this function never copies it except
/// into the zeroizing key buffers).
pub fn parse_root_key_output(output: &[u8]) -> Result<RootKeyring, RootKeyError> {
    let text = std::str::from_utf8(output).map_err(|_| RootKeyError::NotUtf8)?;
    let mut keys: Vec<RootKey> = Vec::new();
    for (index, raw_line) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split([' ', '\t']).filter(|f| !f.is_empty());
        let (Some(id), Some(hex), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(RootKeyError::WrongFieldCount { line: line_no });
        };
        if !valid_key_id(id) {
            return Err(RootKeyError::BadKeyId { line: line_no });
        }
        if hex.len() != 2 * ROOT_KEY_LEN {
            return Err(RootKeyError::BadKeyLength {
                line: line_no,
                found: hex.chars().count(),
            });
        }
        let mut key = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        for (i, pair) in hex.as_bytes().chunks_exact(2).enumerate() {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(hi), Some(lo)) => key[i] = (hi << 4) | lo,
                _ => return Err(RootKeyError::BadKeyHex { line: line_no }),
            }
        }
        if key.iter().all(|&b| b == 0) {
            return Err(RootKeyError::ZeroKey { line: line_no });
        }
        if keys.iter().any(|k| k.id == id) {
            return Err(RootKeyError::DuplicateKeyId { line: line_no });
        }
        if keys.len() == MAX_ROOT_KEYS {
            return Err(RootKeyError::TooMany);
        }
        keys.push(RootKey {
            id: id.to_owned(),
            key,
        });
    }
    if keys.is_empty() {
        return Err(RootKeyError::Empty);
    }
    Ok(RootKeyring { keys })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const HEX_B: &str = "FFEEDDCCBBAA99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn parses_one_key() {
        let ring = parse_root_key_output(format!("prod-2026 {HEX_A}\n").as_bytes()).unwrap();
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.active().id(), "prod-2026");
        assert_eq!(ring.active().bytes()[0], 0);
        assert_eq!(ring.active().bytes()[31], 0x1f);
    }

    #[test]
    fn first_line_is_active_and_older_keys_stay_available() {
        let out = format!("# rotated 2026-11\nnew\t{HEX_B}\r\n\nold {HEX_A}\n");
        let ring = parse_root_key_output(out.as_bytes()).unwrap();
        assert_eq!(ring.active().id(), "new");
        assert_eq!(ring.ids().collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(ring.get("old").unwrap().bytes()[1], 1);
        assert_eq!(ring.get("new").unwrap().bytes()[0], 0xff);
        assert!(ring.get("missing").is_none());
    }

    #[test]
    fn refusals_name_the_line_and_the_problem() {
        let cases: Vec<(String, RootKeyError)> = vec![
            (String::new(), RootKeyError::Empty),
            ("# only a comment\n\n".into(), RootKeyError::Empty),
            (HEX_A.into(), RootKeyError::WrongFieldCount { line: 1 }),
            (
                format!("a {HEX_A} extra"),
                RootKeyError::WrongFieldCount { line: 1 },
            ),
            (
                format!("bad/id {HEX_A}"),
                RootKeyError::BadKeyId { line: 1 },
            ),
            (
                format!("{} {HEX_A}", "x".repeat(65)),
                RootKeyError::BadKeyId { line: 1 },
            ),
            (
                "k 00ff".into(),
                RootKeyError::BadKeyLength { line: 1, found: 4 },
            ),
            (
                format!("k {}zz", &HEX_A[..62]),
                RootKeyError::BadKeyHex { line: 1 },
            ),
            (
                format!("k {}", "0".repeat(64)),
                RootKeyError::ZeroKey { line: 1 },
            ),
            (
                format!("k {HEX_A}\n\nk {HEX_B}"),
                RootKeyError::DuplicateKeyId { line: 3 },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_root_key_output(input.as_bytes()).unwrap_err(),
                want,
                "input {input:?}"
            );
        }
        assert_eq!(
            parse_root_key_output(&[0xff, 0xfe]).unwrap_err(),
            RootKeyError::NotUtf8
        );
    }

    #[test]
    fn too_many_keys_is_refused() {
        let out: String = (0..=MAX_ROOT_KEYS)
            .map(|i| format!("k{i} {HEX_A}\n"))
            .collect();
        assert_eq!(
            parse_root_key_output(out.as_bytes()).unwrap_err(),
            RootKeyError::TooMany
        );
    }

    #[test]
    fn fingerprint_is_stable_short_and_key_dependent() {
        let a = parse_root_key_output(format!("a {HEX_A}").as_bytes()).unwrap();
        let a2 = parse_root_key_output(format!("other-id {HEX_A}").as_bytes()).unwrap();
        let b = parse_root_key_output(format!("a {HEX_B}").as_bytes()).unwrap();
        let fa = a.active().fingerprint();
        assert_eq!(fa.len(), 16);
        assert!(fa.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            fa,
            a2.active().fingerprint(),
            "the id is not part of the fingerprint"
        );
        assert_ne!(fa, b.active().fingerprint());
        assert!(!HEX_A.contains(&fa));
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let ring = parse_root_key_output(format!("k {HEX_B}").as_bytes()).unwrap();
        let shown = format!("{ring:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.to_lowercase().contains("ffeedd"));
        assert!(!shown.contains("255"));
    }

    proptest! {
        // Whatever the command prints, the error text never contains a run of it long enough
        // to be key material.
        #[test]
        fn errors_never_echo_the_output(out in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Err(e) = parse_root_key_output(&out) {
                let msg = e.to_string();
                let text = String::from_utf8_lossy(&out);
                for token in text.split_whitespace().filter(|t| t.len() >= 8) {
                    prop_assert!(!msg.contains(token), "error {msg:?} echoes {token:?}");
                }
            }
        }

        #[test]
        fn any_well_formed_line_round_trips(id in "[A-Za-z0-9._:-]{1,64}", key in any::<[u8; 32]>()) {
            prop_assume!(key.iter().any(|&b| b != 0));
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let ring = parse_root_key_output(format!("{id} {hex}\n").as_bytes()).unwrap();
            prop_assert_eq!(ring.active().id(), id.as_str());
            prop_assert_eq!(ring.active().bytes(), &key);
        }
    }
}
