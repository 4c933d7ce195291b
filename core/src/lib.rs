//! Pure-Rust core of pg_privacy. Nothing here links to PostgreSQL: the logic that decides what
//! a key, an envelope, a mask or a redaction is lives here and is tested with plain
//! `cargo test`, property tests and fuzz targets. The extension only converts datums and talks
//! to the server.

pub mod rootkey;

pub use rootkey::{parse_root_key_output, RootKey, RootKeyError, RootKeyring, ROOT_KEY_LEN};
