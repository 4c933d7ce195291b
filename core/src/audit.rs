//! The audit log's tamper evidence and the packing of read events in shared memory.
//!
//! **Row hashes.** Every row of `privacy.audit_log` carries `row_hash = SHA-256(encoding)`, where
//! the encoding is a label and then each column in table order, type-tagged and length-prefixed,
//! so no two different rows encode alike (a value cannot spill into its neighbour). Times and
//! numbers are encoded as integers, never as text, so the hash does not depend on DateStyle or
//! TimeZone; names as their bytes; text, jsonb and inet as the bytes of their stored
//! (detoasted) value, which PostgreSQL keeps in a canonical form (jsonb keys sorted and
//! deduplicated), so a dump and restore gives the same hashes.
//!
//! **Seals.** The worker seals rows in blocks: `hash = SHA-256(label, block_no, first_id,
//! last_id, row_count, prev_hash, row_hash…)`. Each block names the previous block's hash, so
//! changing, adding or removing a sealed row, or a seal, breaks every later block's hash; the
//! latest hash kept outside the database (`audit_digest()`) proves the whole chain.
//!
//! **Queue entries.** A read event waits in a fixed-size shared-memory slot; its text fields are
//! packed length-prefixed into the slot, cut at a character boundary if the slot is full (the
//! entry then says so, and the log row carries `"truncated": true`).

use sha2::{Digest, Sha256};

const ROW_LABEL: &[u8] = b"pg_privacy audit row v1\0";
const SEAL_LABEL: &[u8] = b"pg_privacy audit seal v1\0";

/// Length of a row hash and of a block hash.
pub const HASH_LEN: usize = 32;

/// One column of an audit row, as the hash sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field<'a> {
    Null,
    Int(i64),
    Text(&'a [u8]),
    TextArray(Vec<Option<&'a [u8]>>),
}

fn put_len(h: &mut Sha256, len: usize) {
    h.update((len as u64).to_be_bytes());
}

/// The hash of one audit row, from its columns in table order (all but `row_hash`).
pub fn row_hash(fields: &[Field<'_>]) -> [u8; HASH_LEN] {
    let mut h = Sha256::new();
    h.update(ROW_LABEL);
    put_len(&mut h, fields.len());
    for f in fields {
        match f {
            Field::Null => h.update([0u8]),
            Field::Int(v) => {
                h.update([1u8]);
                h.update(v.to_be_bytes());
            }
            Field::Text(t) => {
                h.update([2u8]);
                put_len(&mut h, t.len());
                h.update(t);
            }
            Field::TextArray(items) => {
                h.update([3u8]);
                put_len(&mut h, items.len());
                for item in items {
                    match item {
                        None => h.update([0u8]),
                        Some(t) => {
                            h.update([2u8]);
                            put_len(&mut h, t.len());
                            h.update(t);
                        }
                    }
                }
            }
        }
    }
    h.finalize().into()
}

/// What a seal covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealHeader<'a> {
    pub block_no: i64,
    pub first_id: i64,
    pub last_id: i64,
    pub row_count: i64,
    /// The previous block's hash; empty for the first block ever sealed.
    pub prev_hash: &'a [u8],
}

/// Computes block hashes incrementally, one row hash at a time.
pub struct SealHasher {
    h: Sha256,
}

impl SealHasher {
    pub fn new(header: &SealHeader<'_>) -> Self {
        let mut h = Sha256::new();
        h.update(SEAL_LABEL);
        for v in [
            header.block_no,
            header.first_id,
            header.last_id,
            header.row_count,
        ] {
            h.update(v.to_be_bytes());
        }
        put_len(&mut h, header.prev_hash.len());
        h.update(header.prev_hash);
        SealHasher { h }
    }

    /// The next row's id and stored hash, in id order.
    pub fn add_row(&mut self, id: i64, row_hash: &[u8]) {
        self.h.update(id.to_be_bytes());
        put_len(&mut self.h, row_hash.len());
        self.h.update(row_hash);
    }

    pub fn finish(self) -> [u8; HASH_LEN] {
        self.h.finalize().into()
    }
}

/// The hash of a block from its header and its rows' `(id, row_hash)` in id order.
pub fn seal_hash<'a>(
    header: &SealHeader<'_>,
    rows: impl IntoIterator<Item = (i64, &'a [u8])>,
) -> [u8; HASH_LEN] {
    let mut s = SealHasher::new(header);
    for (id, hash) in rows {
        s.add_row(id, hash);
    }
    s.finish()
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The longest prefix of `s` of at most `max` bytes that ends on a UTF-8 character boundary.
fn utf8_prefix(s: &[u8], max: usize) -> &[u8] {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    // A continuation byte is 0b10xx_xxxx: step back to the start of the character it belongs to.
    while end > 0 && (s[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    &s[..end]
}

/// Packs text fields into `buf`: each as a 2-byte length and its bytes. A field that does not
/// fit is cut at a character boundary (later fields may then be empty). Returns the bytes used
/// and whether anything was cut.
pub fn pack_fields(fields: &[&[u8]], buf: &mut [u8]) -> (usize, bool) {
    let mut at = 0;
    let mut truncated = false;
    for (i, f) in fields.iter().enumerate() {
        // Every later field needs at least its length prefix.
        let reserve = 2 * (fields.len() - i);
        let room = buf
            .len()
            .saturating_sub(at + reserve)
            .min(u16::MAX as usize);
        let part = utf8_prefix(f, room);
        truncated |= part.len() < f.len();
        buf[at..at + 2].copy_from_slice(&(part.len() as u16).to_be_bytes());
        buf[at + 2..at + 2 + part.len()].copy_from_slice(part);
        at += 2 + part.len();
    }
    (at, truncated)
}

/// The fields [`pack_fields`] wrote, or `None` if `buf` does not hold `count` of them.
pub fn unpack_fields(buf: &[u8], count: usize) -> Option<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(count);
    let mut at = 0;
    for _ in 0..count {
        let len = u16::from_be_bytes(buf.get(at..at + 2)?.try_into().ok()?) as usize;
        out.push(buf.get(at + 2..at + 2 + len)?);
        at += 2 + len;
    }
    Some(out)
}

/// A list of names (columns) as one field: each name as a 1-byte length and its bytes (names
/// are at most 63 bytes in PostgreSQL; longer ones are cut).
pub fn pack_names<S: AsRef<[u8]>>(names: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in names {
        let n = utf8_prefix(n.as_ref(), u8::MAX as usize);
        out.push(n.len() as u8);
        out.extend_from_slice(n);
    }
    out
}

/// The names [`pack_names`] wrote; a list cut short by [`pack_fields`] keeps its whole names.
pub fn unpack_names(mut buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = buf.split_first() {
        let len = len as usize;
        if rest.len() < len {
            break;
        }
        out.push(&rest[..len]);
        buf = &rest[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn row_hash_separates_fields() {
        let a = row_hash(&[Field::Text(b"ab"), Field::Text(b"c")]);
        let b = row_hash(&[Field::Text(b"a"), Field::Text(b"bc")]);
        assert_ne!(a, b);
        let n = row_hash(&[Field::Null]);
        let e = row_hash(&[Field::Text(b"")]);
        assert_ne!(n, e);
        let arr = row_hash(&[Field::TextArray(vec![Some(b"a"), None])]);
        let arr2 = row_hash(&[Field::TextArray(vec![Some(b"a")]), Field::Null]);
        assert_ne!(arr, arr2);
        assert_eq!(
            row_hash(&[Field::Int(5), Field::Text(b"x")]),
            row_hash(&[Field::Int(5), Field::Text(b"x")])
        );
    }

    #[test]
    fn seal_hash_chains() {
        let rows: Vec<(i64, [u8; 32])> = (1..=3).map(|i| (i, [i as u8; 32])).collect();
        let h1 = SealHeader {
            block_no: 1,
            first_id: 1,
            last_id: 3,
            row_count: 3,
            prev_hash: &[],
        };
        let a = seal_hash(&h1, rows.iter().map(|(i, h)| (*i, &h[..])));
        let mut changed = rows.clone();
        changed[1].1[0] ^= 1;
        assert_ne!(a, seal_hash(&h1, changed.iter().map(|(i, h)| (*i, &h[..]))));
        let h2 = SealHeader {
            prev_hash: &a,
            ..h1.clone()
        };
        assert_ne!(a, seal_hash(&h2, rows.iter().map(|(i, h)| (*i, &h[..]))));
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }

    #[test]
    fn packing_cuts_at_character_boundaries() {
        let mut buf = [0u8; 12];
        let (used, cut) = pack_fields(&["日本語".as_bytes(), b"abc"], &mut buf);
        assert!(cut);
        assert!(used <= 12);
        let f = unpack_fields(&buf[..used], 2).unwrap();
        assert!(std::str::from_utf8(f[0]).is_ok());
        assert!(std::str::from_utf8(f[1]).is_ok());
    }

    proptest! {
        #[test]
        fn pack_round_trips_when_it_fits(fields in proptest::collection::vec(".{0,40}", 0..8)) {
            let bytes: Vec<&[u8]> = fields.iter().map(|s| s.as_bytes()).collect();
            let mut buf = vec![0u8; 512];
            let (used, cut) = pack_fields(&bytes, &mut buf);
            let total: usize = bytes.iter().map(|b| b.len() + 2).sum();
            prop_assert_eq!(cut, total > 512);
            let back = unpack_fields(&buf[..used], bytes.len()).unwrap();
            for (orig, got) in bytes.iter().zip(&back) {
                prop_assert!(orig.starts_with(got));
                prop_assert!(std::str::from_utf8(got).is_ok());
                if !cut { prop_assert_eq!(orig, got); }
            }
        }

        #[test]
        fn pack_never_overflows(fields in proptest::collection::vec(".{0,200}", 0..10), size in 0usize..300) {
            let bytes: Vec<&[u8]> = fields.iter().map(|s| s.as_bytes()).collect();
            let mut buf = vec![0u8; size + 2 * bytes.len()];
            let (used, _) = pack_fields(&bytes, &mut buf);
            prop_assert!(used <= buf.len());
            prop_assert!(unpack_fields(&buf[..used], bytes.len()).is_some());
        }

        #[test]
        fn names_round_trip(names in proptest::collection::vec("[a-z_][a-z0-9_ ]{0,62}", 0..20)) {
            let packed = pack_names(&names);
            let back: Vec<&[u8]> = unpack_names(&packed);
            prop_assert_eq!(back.len(), names.len());
            for (n, b) in names.iter().zip(back) { prop_assert_eq!(n.as_bytes(), b); }
        }

        #[test]
        fn any_change_changes_the_row_hash(a in ".{0,20}", b in ".{0,20}", n in any::<i64>()) {
            let h = row_hash(&[Field::Int(n), Field::Text(a.as_bytes())]);
            if a != b {
                prop_assert_ne!(h, row_hash(&[Field::Int(n), Field::Text(b.as_bytes())]));
            }
            prop_assert_ne!(h, row_hash(&[Field::Int(n.wrapping_add(1)), Field::Text(a.as_bytes())]));
        }
    }
}
