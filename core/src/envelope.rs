//! The stored form of an encrypted value, and its text armour.
//!
//! Binary layout (all of it is stored; nothing is implied by the column):
//!
//! ```text
//! offset  len  field
//! 0       1    format version, 0x01
//! 1       4    key id: keyring row id of the data key, u32 big-endian
//! 5       12   AES-GCM nonce (96 bits, random per value)
//! 17      n    ciphertext (same length as the plaintext)
//! 17+n    16   AES-GCM tag
//! ```
//!
//! The key id travels in clear so that `key_of`, re-encryption and the key cache can find the
//! data key without trying keys; it is bound into the associated data (see `cipher`), so
//! relabelling it makes the value undecryptable rather than decryptable under another key.
//!
//! The text form is `enc1:` followed by unpadded base64url (RFC 4648 §5). It is the type's
//! output and the only input accepted, so a dump restores ciphertext as ciphertext and a
//! plaintext can never be mistaken for an encrypted value. The decoder is strict (one spelling
//! per envelope) so that equal values have equal text and nothing can be smuggled in the
//! slack bits of the last character.
//!
//! Parsing checks structure only; whether the bytes are authentic is decided by `open`.
//! Errors describe the shape of the problem and never include any of the input.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// The only format version written and read.
pub const ENVELOPE_VERSION: u8 = 0x01;
/// Length of the key id field.
pub const KEY_ID_LEN: usize = 4;
/// Length of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes before the ciphertext: version, key id, nonce.
pub const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// Shortest valid envelope: the encryption of an empty value.
pub const MIN_ENVELOPE_LEN: usize = HEADER_LEN + TAG_LEN;
/// Prefix of the text form; the digit is the envelope version.
pub const ARMOR_PREFIX: &str = "enc1:";

/// Why bytes are not an envelope. Carries lengths at most, never content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("encrypted value is empty")]
    Empty,
    #[error("encrypted value has an unknown format version")]
    UnknownVersion,
    #[error("encrypted value is too short: {len} bytes, at least {min} expected", min = MIN_ENVELOPE_LEN)]
    TooShort { len: usize },
}

/// Why a text is not an armoured envelope. Every variant means "malformed input" (the
/// extension reports SQLSTATE 22P02); the variants only make the message more useful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArmorError {
    #[error("encrypted value must start with \"{ARMOR_PREFIX}\"")]
    MissingPrefix,
    #[error("encrypted value is not canonical unpadded base64url after \"{ARMOR_PREFIX}\"")]
    NotBase64,
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// A parsed envelope borrowing the stored bytes, so reading a column costs no copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    key_id: u32,
    nonce: &'a [u8; NONCE_LEN],
    ciphertext: &'a [u8],
    tag: &'a [u8; TAG_LEN],
}

impl<'a> Envelope<'a> {
    /// Splits `bytes` into its fields after checking the version and the minimum length.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        // The version is checked before the length: a future version may be shorter.
        match bytes.first() {
            None => return Err(EnvelopeError::Empty),
            Some(&ENVELOPE_VERSION) => {}
            Some(_) => return Err(EnvelopeError::UnknownVersion),
        }
        if bytes.len() < MIN_ENVELOPE_LEN {
            return Err(EnvelopeError::TooShort { len: bytes.len() });
        }
        let (header, rest) = bytes.split_at(HEADER_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let key_id = u32::from_be_bytes(header[1..5].try_into().expect("4 bytes"));
        Ok(Envelope {
            key_id,
            nonce: header[5..HEADER_LEN].try_into().expect("12 bytes"),
            ciphertext,
            tag: tag.try_into().expect("16 bytes"),
        })
    }

    /// Keyring row id of the data key the value claims to be encrypted with.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn nonce(&self) -> &'a [u8; NONCE_LEN] {
        self.nonce
    }

    pub fn ciphertext(&self) -> &'a [u8] {
        self.ciphertext
    }

    pub fn tag(&self) -> &'a [u8; TAG_LEN] {
        self.tag
    }

    /// Length of the plaintext this envelope decrypts to.
    pub fn plaintext_len(&self) -> usize {
        self.ciphertext.len()
    }
}

/// The key id of a stored value without decrypting it (for `key_of` and re-encryption).
pub fn key_id_of(bytes: &[u8]) -> Result<u32, EnvelopeError> {
    Envelope::parse(bytes).map(|e| e.key_id())
}

/// Writes the version, key id and nonce: the part of an envelope that precedes the ciphertext.
pub fn write_header(out: &mut Vec<u8>, key_id: u32, nonce: &[u8; NONCE_LEN]) {
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(nonce);
}

/// Assembles an envelope from its fields.
pub fn build(
    key_id: u32,
    nonce: &[u8; NONCE_LEN],
    ciphertext: &[u8],
    tag: &[u8; TAG_LEN],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(MIN_ENVELOPE_LEN + ciphertext.len());
    write_header(&mut out, key_id, nonce);
    out.extend_from_slice(ciphertext);
    out.extend_from_slice(tag);
    out
}

/// Unpadded base64url that refuses padding and non-zero trailing bits on input. Spelled out
/// rather than taken from `URL_SAFE_NO_PAD` so that the strictness is visible here and does
/// not depend on a library default.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Length of the text form of an envelope of `envelope_len` bytes.
pub fn armored_len(envelope_len: usize) -> usize {
    ARMOR_PREFIX.len() + (envelope_len * 4).div_ceil(3)
}

/// The text form: `enc1:` + unpadded base64url.
pub fn encode_armored(envelope: &[u8]) -> String {
    let mut out = String::with_capacity(armored_len(envelope.len()));
    encode_armored_into(envelope, &mut out);
    out
}

/// Appends the text form to `out`, for output functions that reuse a buffer.
pub fn encode_armored_into(envelope: &[u8], out: &mut String) {
    out.push_str(ARMOR_PREFIX);
    BASE64URL.encode_string(envelope, out);
}

/// Reads the text form back, accepting only exactly what `encode_armored` writes for a
/// structurally valid envelope: the prefix, then canonical unpadded base64url with no
/// whitespace.
pub fn decode_armored(text: &str) -> Result<Vec<u8>, ArmorError> {
    let body = text
        .strip_prefix(ARMOR_PREFIX)
        .ok_or(ArmorError::MissingPrefix)?;
    let bytes = BASE64URL.decode(body).map_err(|_| ArmorError::NotBase64)?;
    Envelope::parse(&bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        build(0x0102_0304, &[7; NONCE_LEN], b"ciphertext", &[9; TAG_LEN])
    }

    #[test]
    fn build_then_parse_gives_the_fields_back() {
        let bytes = sample();
        assert_eq!(bytes.len(), MIN_ENVELOPE_LEN + 10);
        assert_eq!(&bytes[..5], &[1, 1, 2, 3, 4]);
        let env = Envelope::parse(&bytes).unwrap();
        assert_eq!(env.key_id(), 0x0102_0304);
        assert_eq!(env.nonce(), &[7; NONCE_LEN]);
        assert_eq!(env.ciphertext(), b"ciphertext");
        assert_eq!(env.tag(), &[9; TAG_LEN]);
        assert_eq!(env.plaintext_len(), 10);
        assert_eq!(key_id_of(&bytes), Ok(0x0102_0304));
    }

    #[test]
    fn empty_ciphertext_is_a_valid_envelope() {
        let bytes = build(1, &[0; NONCE_LEN], b"", &[0; TAG_LEN]);
        assert_eq!(bytes.len(), MIN_ENVELOPE_LEN);
        assert_eq!(Envelope::parse(&bytes).unwrap().ciphertext(), b"");
    }

    #[test]
    fn structural_errors() {
        assert_eq!(Envelope::parse(&[]), Err(EnvelopeError::Empty));
        assert_eq!(
            Envelope::parse(&[2; 64]),
            Err(EnvelopeError::UnknownVersion)
        );
        assert_eq!(
            Envelope::parse(&[0; 64]),
            Err(EnvelopeError::UnknownVersion)
        );
        let bytes = sample();
        for len in 1..MIN_ENVELOPE_LEN {
            assert_eq!(
                Envelope::parse(&bytes[..len]),
                Err(EnvelopeError::TooShort { len })
            );
        }
    }

    #[test]
    fn armour_round_trip() {
        let bytes = sample();
        let text = encode_armored(&bytes);
        assert!(text.starts_with("enc1:"));
        assert_eq!(text.len(), armored_len(bytes.len()));
        assert!(text[5..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(decode_armored(&text).unwrap(), bytes);
    }

    #[test]
    fn armour_uses_the_url_safe_alphabet() {
        // 0xfb 0xff encodes to characters 62 and 63, which differ between the alphabets.
        let mut bytes = sample();
        bytes.extend_from_slice(&[0xfb, 0xff, 0xfe]);
        let text = encode_armored(&bytes);
        assert!(text.contains('-') || text.contains('_'));
        assert!(!text.contains('+') && !text.contains('/'));
        let std_spelling = text.replace('-', "+").replace('_', "/");
        assert_eq!(decode_armored(&std_spelling), Err(ArmorError::NotBase64));
    }

    #[test]
    fn armour_rejections() {
        let bytes = sample(); // 43 bytes: 43 % 3 == 1, so the text ends in 2 chars of 4 bits slack
        let good = encode_armored(&bytes);
        let body = &good[5..];
        assert_eq!(decode_armored(&good).unwrap(), bytes);

        let rejected: Vec<(String, ArmorError)> = vec![
            (body.to_string(), ArmorError::MissingPrefix),
            (format!("enc2:{body}"), ArmorError::MissingPrefix),
            (format!("ENC1:{body}"), ArmorError::MissingPrefix),
            (format!(" {good}"), ArmorError::MissingPrefix),
            (String::new(), ArmorError::MissingPrefix),
            (format!("{good}=="), ArmorError::NotBase64),
            (format!("{good}="), ArmorError::NotBase64),
            (format!("{good} "), ArmorError::NotBase64),
            (format!("{good}\n"), ArmorError::NotBase64),
            (format!("enc1: {body}"), ArmorError::NotBase64),
            (
                format!("enc1:{}\n{}", &body[..20], &body[20..]),
                ArmorError::NotBase64,
            ),
            (
                format!("enc1:{}*{}", &body[..20], &body[21..]),
                ArmorError::NotBase64,
            ),
            (
                format!("enc1:{}.{}", &body[..20], &body[21..]),
                ArmorError::NotBase64,
            ),
            (
                format!("enc1:{}é{}", &body[..20], &body[21..]),
                ArmorError::NotBase64,
            ),
            // A body whose length is 1 more than a multiple of 4 is never valid base64.
            (
                format!("enc1:{}A", &body[..body.len() / 4 * 4]),
                ArmorError::NotBase64,
            ),
            (
                "enc1:".to_string(),
                ArmorError::Envelope(EnvelopeError::Empty),
            ),
            (
                encode_armored(&bytes[..MIN_ENVELOPE_LEN - 1]),
                ArmorError::Envelope(EnvelopeError::TooShort {
                    len: MIN_ENVELOPE_LEN - 1,
                }),
            ),
            (
                encode_armored(&[2; 40]),
                ArmorError::Envelope(EnvelopeError::UnknownVersion),
            ),
        ];
        for (text, want) in rejected {
            assert_eq!(decode_armored(&text), Err(want), "text {text:?}");
        }
    }

    #[test]
    fn non_canonical_last_character_is_rejected() {
        // For every remainder length, setting any slack bit of the last character must be
        // refused, or two texts would decode to the same bytes.
        for extra in 0..3 {
            let mut bytes = sample();
            bytes.extend(std::iter::repeat_n(0u8, extra));
            let good = encode_armored(&bytes);
            let slack_bits = match bytes.len() % 3 {
                0 => continue, // no partial group, no slack
                1 => 4,
                _ => 2,
            };
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let last = *good.as_bytes().last().unwrap();
            let value = alphabet.iter().position(|&c| c == last).unwrap();
            assert_eq!(value & ((1 << slack_bits) - 1), 0, "encoder is canonical");
            for bit in 0..slack_bits {
                let mut text = good.clone().into_bytes();
                *text.last_mut().unwrap() = alphabet[value | (1 << bit)];
                let text = String::from_utf8(text).unwrap();
                assert_eq!(decode_armored(&text), Err(ArmorError::NotBase64), "{text}");
            }
        }
    }

    #[test]
    fn errors_never_echo_input() {
        let secret = "enc1:c2VjcmV0LXNlY3JldC1zZWNyZXQ";
        for text in [secret, &secret[5..], &format!("{secret}=")] {
            let msg = decode_armored(text).unwrap_err().to_string();
            assert!(!msg.contains("c2VjcmV0"), "{msg}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(env) = Envelope::parse(&bytes) {
                prop_assert_eq!(
                    build(env.key_id(), env.nonce(), env.ciphertext(), env.tag()),
                    bytes
                );
            }
        }

        #[test]
        fn decode_armored_never_panics(text in any::<String>()) {
            let _ = decode_armored(&text);
            let _ = decode_armored(&format!("enc1:{text}"));
        }

        #[test]
        fn decode_armored_never_panics_on_near_valid_text(text in "enc1:[A-Za-z0-9_=+/ -]{0,120}") {
            if let Ok(bytes) = decode_armored(&text) {
                // Whatever is accepted re-encodes to the very same text: one spelling only.
                prop_assert_eq!(encode_armored(&bytes), text);
            }
        }

        #[test]
        fn armour_round_trips(
            key_id in any::<u32>(),
            nonce in any::<[u8; NONCE_LEN]>(),
            ct in proptest::collection::vec(any::<u8>(), 0..300),
            tag in any::<[u8; TAG_LEN]>(),
        ) {
            let bytes = build(key_id, &nonce, &ct, &tag);
            let text = encode_armored(&bytes);
            prop_assert_eq!(decode_armored(&text).unwrap(), bytes);
        }
    }
}
