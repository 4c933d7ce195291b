//! Pure-Rust core of pg_privacy. Nothing here links to PostgreSQL: the logic that decides what
//! a key, an envelope, a mask or a redaction is lives here and is tested with plain
//! `cargo test`, property tests and fuzz targets. The extension only converts datums and talks
//! to the server.

pub mod audit;
pub mod blind;
pub mod cipher;
pub mod envelope;
pub mod mask;
pub mod nonce;
pub mod redact;
pub mod rootkey;
pub mod wrap;

pub use blind::{blind_index, BlindIndexKey, BLIND_INDEX_LEN};
pub use cipher::{open, seal, seal_into, CipherError, DataKey, ValueKind, DEK_LEN};
pub use envelope::{
    decode_armored, encode_armored, key_id_of, ArmorError, Envelope, EnvelopeError,
};
pub use rootkey::{parse_root_key_output, RootKey, RootKeyError, RootKeyring, ROOT_KEY_LEN};
pub use wrap::{generate_dek, unwrap_dek, wrap_dek, WrapError, WRAPPED_DEK_LEN};
