//! Pure logic of the masking functions (`privacy.mask_*`, `privacy.generalize`,
//! `privacy.pseudonymize`).
//!
//! Everything works on *characters*, by which this module means Unicode scalar values (Rust
//! `char`), the unit PostgreSQL's `length()` and `substr()` count for UTF-8 text. A value is
//! never sliced by byte offset, so no input can split a multi-byte sequence or panic. Grapheme
//! clusters are not used: a base letter followed by a combining accent, or an emoji built with
//! zero-width joiners, counts as several characters, exactly as in SQL. That can mask part of
//! a cluster (`e` + U+0301 with one character kept shows `e*`), which hides more, never less.
//!
//! The shared rule: a mask never shows a value whole. Where the kept part would be the entire
//! value (a value no longer than what is kept, a one-character word or local part) everything
//! is masked instead.
//!
//! Error messages describe the parameter that is wrong and never contain the value.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The character that replaces masked characters in every function but [`mask_partial`],
/// whose fill is a parameter.
pub const MASK_CHAR: char = '*';

/// Largest result [`mask_partial`] produces, in bytes: PostgreSQL's limit for one text datum
/// (1 GB − 1, `MaxAllocSize`, less the 4-byte varlena header). The other functions never
/// return more bytes than they are given.
pub const MAX_RESULT_BYTES: usize = 0x3FFF_FFFF - 4;

/// Why a masking function refused its arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// A parameter other than the value is out of range (SQLSTATE 22023). The message names
    /// the parameter, never the value.
    #[error("{0}")]
    InvalidParameter(String),
    /// The result would be larger than a text value can be (SQLSTATE 54000). Only
    /// [`mask_partial`] with a multi-character fill can get there.
    #[error("the masked value would exceed the maximum text size of 1 GB")]
    ResultTooLong,
}

fn invalid(message: &str) -> MaskError {
    MaskError::InvalidParameter(message.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Text masks
// ---------------------------------------------------------------------------------------------

/// Keeps the first `keep_start` and the last `keep_end` characters of `value` and replaces
/// each other character with `fill` (which may be empty or several characters long).
///
/// A value of at most `keep_start + keep_end` characters would come out unchanged, so it is
/// masked entirely instead: a short value is never shown whole. Negative keeps are refused.
/// The result is capped at [`MAX_RESULT_BYTES`] because a long fill multiplies the size.
pub fn mask_partial(
    value: &str,
    keep_start: i32,
    keep_end: i32,
    fill: &str,
) -> Result<String, MaskError> {
    let (Ok(keep_start), Ok(keep_end)) = (usize::try_from(keep_start), usize::try_from(keep_end))
    else {
        return Err(invalid("keep_start and keep_end must not be negative"));
    };
    let count = value.chars().count();
    // Two keeps below 2^31 sum to less than 2^32, which fits any usize of 32 bits or more;
    // the add saturates anyway rather than rely on that.
    let (keep_start, keep_end) = if count <= keep_start.saturating_add(keep_end) {
        (0, 0)
    } else {
        (keep_start, keep_end)
    };
    let masked = count - keep_start - keep_end;

    // Byte offsets of the kept head and tail, found by walking characters, never by slicing
    // at a guessed offset.
    let head_end = value
        .char_indices()
        .nth(keep_start)
        .map_or(value.len(), |(i, _)| i);
    let tail_start = if keep_end == 0 {
        value.len()
    } else {
        value
            .char_indices()
            .nth_back(keep_end - 1)
            .map_or(0, |(i, _)| i)
    };
    let head = &value[..head_end];
    let tail = &value[tail_start..];

    let size = fill
        .len()
        .checked_mul(masked)
        .and_then(|n| n.checked_add(head.len()))
        .and_then(|n| n.checked_add(tail.len()))
        .filter(|&n| n <= MAX_RESULT_BYTES)
        .ok_or(MaskError::ResultTooLong)?;
    let mut out = String::with_capacity(size);
    out.push_str(head);
    if masked > 0 {
        // Copy the fill, then double what is there, so a long run costs a few memcpy calls
        // rather than one small copy per character.
        let start = out.len();
        out.push_str(fill);
        let mut done = 1;
        while done < masked {
            let n = done.min(masked - done);
            out.extend_from_within(start..start + n * fill.len());
            done += n;
        }
    }
    out.push_str(tail);
    Ok(out)
}

/// Appends `part` to `out` keeping its first character and masking the others; a part of one
/// character is masked entirely, since keeping it would show it whole.
fn push_first_kept(out: &mut String, part: &str) {
    let mut chars = part.chars();
    let Some(first) = chars.next() else {
        return;
    };
    let rest = chars.count();
    out.push(if rest == 0 { MASK_CHAR } else { first });
    out.extend(std::iter::repeat_n(MASK_CHAR, rest));
}

/// `alice@example.com` → `a****@example.com`: the first character of the local part is kept,
/// each other character of it becomes `*`, the domain is kept.
///
/// The local part ends at the *last* `@`, since a quoted local part may contain `@` but a
/// domain never does. A value without `@` is not an email address and is masked like a local
/// part. A local part of a single character is masked entirely (`a@example.com` →
/// `*@example.com`). The result has as many characters as the value.
pub fn mask_email(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    match value.rfind('@') {
        Some(at) => {
            push_first_kept(&mut out, &value[..at]);
            out.push_str(&value[at..]);
        }
        None => push_first_kept(&mut out, value),
    }
    out
}

/// Whether `c` counts as a digit for the number masks: any Unicode number character. That
/// covers ASCII `0-9`, full-width `０-９` and the digits of other scripts, so no form of a
/// digit slips through as a "separator"; masking more characters is the safe direction.
fn is_digit(c: char) -> bool {
    c.is_numeric()
}

/// Masks every digit but the last `keep` ones, or every digit when there are fewer than
/// `min_digits`. Non-digits are kept in place, so the result has as many characters as the
/// value.
fn mask_digits(value: &str, keep: usize, min_digits: usize) -> String {
    let digits = value.chars().filter(|&c| is_digit(c)).count();
    let first_shown = if digits >= min_digits {
        digits - keep
    } else {
        digits
    };
    let mut out = String::with_capacity(value.len());
    let mut seen = 0;
    for c in value.chars() {
        if is_digit(c) {
            out.push(if seen >= first_shown { c } else { MASK_CHAR });
            seen += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// `090-1234-5678` → `***-****-5678`: each digit except the last four becomes `*`; everything
/// else (`-`, `+`, parentheses, spaces, letters) is kept, so the shape of the number stays
/// readable. Full-width digits are digits too (`０９０－１２３４－５６７８` →
/// `***－****－５６７８`) and the shown ones stay full-width. With four digits or fewer every
/// digit is masked.
pub fn mask_phone(value: &str) -> String {
    mask_digits(value, 4, 5)
}

/// `4111 1111 1111 1111` → `**** **** **** 1111`: the rule of [`mask_phone`], but the last
/// four digits are shown only when there are at least eight (a short number would be half
/// shown).
pub fn mask_card(value: &str) -> String {
    mask_digits(value, 4, 8)
}

/// Japanese Individual Number (12 digits): `123456789012` → `********9012`, separators kept,
/// the same rule as [`mask_card`] (last four digits shown only when there are at least eight).
pub fn mask_my_number(value: &str) -> String {
    mask_digits(value, 4, 8)
}

/// `Alice Smith` → `A**** S****`, `山田 太郎` → `山* 太*`, `鈴木一郎` → `鈴***`: each word keeps
/// its first character and the others become `*`. Words are separated by Unicode white space
/// (which includes the ideographic space U+3000); the separators are kept as they are. A
/// hyphen does not separate (`Jean-Luc` is one word). A one-character word is masked entirely
/// (`林 明` → `* *`), since single-character names are common in CJK languages. The result has
/// as many characters as the value.
pub fn mask_name(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        push_first_kept(&mut out, &rest[..word_end]);
        rest = &rest[word_end..];
        let space_end = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..space_end]);
        rest = &rest[space_end..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Generalisation
// ---------------------------------------------------------------------------------------------

/// The units [`generalize_date`] accepts.
pub const DATE_UNITS: [&str; 6] = ["day", "week", "month", "quarter", "year", "decade"];

/// Whether `y` is a leap year of the proleptic Gregorian calendar (astronomical numbering:
/// year 0 is 1 BC and is a leap year).
pub fn is_leap_year(y: i32) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Number of days in month `m` (1–12) of year `y`; 0 for a month that does not exist.
pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (negative before it). No check
/// that the date exists; any `i32` year fits an `i64` result.
///
/// The year is taken to start on 1 March, so the leap day is the last day of a year and
/// months March–January follow a fixed 153-days-per-5-months pattern; whole 400-year cycles
/// (146 097 days) are counted separately so negative years need no special case.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let m = i64::from(m);
    let d = i64::from(d);
    // Year counted from March: January and February belong to the previous one.
    let y = i64::from(y) - i64::from(m <= 2);
    let cycle = y.div_euclid(400);
    let year_of_cycle = y.rem_euclid(400); // 0..=399
    let month_from_march = (m + 9) % 12; // March = 0 … February = 11
    let day_of_year = (153 * month_from_march + 2) / 5 + d - 1; // 0..=365
    let day_of_cycle = year_of_cycle * 365 + year_of_cycle / 4 - year_of_cycle / 100 + day_of_year;
    // 719 468 days separate 0000-03-01 from 1970-01-01.
    cycle * 146_097 + day_of_cycle - 719_468
}

/// ISO weekday of a date: 1 = Monday … 7 = Sunday. 1970-01-01 was a Thursday.
pub fn iso_weekday(y: i32, m: u32, d: u32) -> u32 {
    // rem_euclid of 7 is in 0..7, so the cast cannot truncate.
    (days_from_civil(y, m, d) + 3).rem_euclid(7) as u32 + 1
}

/// The first day of the `unit` bucket that holds the date: `day` (the date itself), `week`
/// (the Monday of its ISO week, possibly in the previous month or year), `month`, `quarter`,
/// `year`, `decade` (1 January of the year rounded down to a multiple of ten, so 2019 → 2010
/// and −5 → −10). The unit is matched ignoring ASCII case, as `date_trunc` does.
///
/// Years are astronomical (year 0 = 1 BC). A date that does not exist is refused, and so is
/// a result whose year does not fit an `i32` (only reachable at the very end of the range).
pub fn generalize_date(y: i32, m: u32, d: u32, unit: &str) -> Result<(i32, u32, u32), MaskError> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(invalid("the date does not exist"));
    }
    let out_of_range = || invalid("the generalised date is out of range");
    let unit_is = |name: &str| unit.eq_ignore_ascii_case(name);
    if unit_is("day") {
        Ok((y, m, d))
    } else if unit_is("week") {
        let back = iso_weekday(y, m, d) - 1; // 0..=6 days back to Monday
        if d > back {
            Ok((y, m, d - back))
        } else if m > 1 {
            // d - back is in -5..=0: count on from the end of the previous month.
            let prev = m - 1;
            Ok((y, prev, days_in_month(y, prev) + d - back))
        } else {
            let prev_year = y.checked_sub(1).ok_or_else(out_of_range)?;
            Ok((prev_year, 12, 31 + d - back))
        }
    } else if unit_is("month") {
        Ok((y, m, 1))
    } else if unit_is("quarter") {
        Ok((y, (m - 1) / 3 * 3 + 1, 1))
    } else if unit_is("year") {
        Ok((y, 1, 1))
    } else if unit_is("decade") {
        let decade = i64::from(y).div_euclid(10) * 10;
        let decade = i32::try_from(decade).map_err(|_| out_of_range())?;
        Ok((decade, 1, 1))
    } else {
        Err(invalid(
            "unknown unit; expected one of: day, week, month, quarter, year, decade",
        ))
    }
}

/// The lower bound of the bucket of width `step` that holds `value`: the largest multiple of
/// `step` that is `<= value` (floor, so −1 with step 10 → −10). `step` must be positive.
///
/// The lowest buckets can start below `i64::MIN` (−9223372036854775808 with step 10 would be
/// −9223372036854775810); such a bucket is cut off at `i64::MIN`, which is returned, so the
/// function never overflows and never fails for a positive step.
pub fn generalize_int(value: i64, step: i64) -> Result<i64, MaskError> {
    if step <= 0 {
        return Err(invalid("step must be positive"));
    }
    // div_euclid only overflows for i64::MIN / -1, excluded above.
    let bucket = value.div_euclid(step);
    Ok(bucket.checked_mul(step).unwrap_or(i64::MIN))
}

// ---------------------------------------------------------------------------------------------
// Pseudonyms
// ---------------------------------------------------------------------------------------------

const PSEUDONYM_LABEL: &[u8] = b"pg_privacy pseudonym v1";

/// Prefix of every pseudonym token.
pub const PSEUDONYM_PREFIX: &str = "tok_";

/// Length of a pseudonym token: the prefix and 26 base32 characters (128 bits).
pub const PSEUDONYM_LEN: usize = 4 + 26;

type HmacSha256 = Hmac<Sha256>;

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A pseudonymisation key with its subkey derived once, for hashing many values. The subkey
/// is `HMAC-SHA256(key, "pg_privacy pseudonym v1")`, so the key's bytes never serve another
/// purpose directly (a single HMAC with a fixed label is HKDF-Expand for one block, enough for
/// a uniformly random key). Wiped when dropped.
pub struct PseudonymKey {
    subkey: Zeroizing<[u8; 32]>,
}

impl PseudonymKey {
    pub fn new(key: &[u8; 32]) -> Self {
        PseudonymKey {
            subkey: Zeroizing::new(hmac_sha256(key, PSEUDONYM_LABEL)),
        }
    }

    /// The token of `value`: see [`pseudonym`].
    pub fn token(&self, value: &str) -> String {
        let mac = Zeroizing::new(hmac_sha256(&self.subkey[..], value.as_bytes()));
        let mut out = String::with_capacity(PSEUDONYM_LEN);
        out.push_str(PSEUDONYM_PREFIX);
        push_base32(&mut out, &mac[..16]);
        out
    }
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

/// A keyed, deterministic token for `value`: `tok_` followed by the first 16 bytes of
/// `HMAC-SHA256(subkey, value bytes)` in lower-case unpadded base32 (26 characters). The same
/// key and value always give the same token, so tokens can be joined and counted; without the
/// key a token cannot be recomputed from a guessed value, unlike a plain hash. 128 bits make
/// an accidental collision negligible. The bytes are hashed as given, without normalisation:
/// `Alice` and `alice` get different tokens.
pub fn pseudonym(key: &[u8; 32], value: &str) -> String {
    PseudonymKey::new(key).token(value)
}

const BASE32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Appends `bytes` in RFC 4648 base32 with the lower-case alphabet and no padding.
fn push_base32(out: &mut String, bytes: &[u8]) {
    let mut acc: u16 = 0; // pending bits, right-aligned; never more than 12 of them
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32_ALPHABET[usize::from((acc >> bits) & 31)]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            BASE32_ALPHABET[usize::from((acc << (5 - bits)) & 31)],
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // --- examples -------------------------------------------------------------------------

    #[test]
    fn mask_partial_examples() {
        assert_eq!(
            mask_partial("4111111111111111", 0, 4, "*").unwrap(),
            "************1111"
        );
        assert_eq!(mask_partial("abcdefgh", 2, 2, "*").unwrap(), "ab****gh");
        assert_eq!(mask_partial("abcdefgh", 2, 2, "").unwrap(), "abgh");
        assert_eq!(
            mask_partial("abcdefgh", 1, 1, "[x]").unwrap(),
            "a[x][x][x][x][x][x]h"
        );
        assert_eq!(
            mask_partial("山田太郎さん", 1, 1, "＊").unwrap(),
            "山＊＊＊＊ん"
        );
        assert_eq!(mask_partial("abcdefgh", 0, 0, "#").unwrap(), "########");
        assert_eq!(mask_partial("abcdefgh", 8, 0, "*").unwrap(), "********");
        assert_eq!(mask_partial("abcdefgh", 3, 0, "*").unwrap(), "abc*****");
        assert_eq!(mask_partial("abcdefgh", 0, 3, "*").unwrap(), "*****fgh");
        // Short values are never shown whole.
        assert_eq!(mask_partial("abcd", 2, 2, "*").unwrap(), "****");
        assert_eq!(mask_partial("abc", 2, 2, "*").unwrap(), "***");
        assert_eq!(mask_partial("abc", 2, 2, "").unwrap(), "");
        assert_eq!(mask_partial("abc", i32::MAX, i32::MAX, "*").unwrap(), "***");
        assert_eq!(mask_partial("", 1, 1, "*").unwrap(), "");
        assert_eq!(mask_partial("abcde", 2, 2, "*").unwrap(), "ab*de");
        // Combining marks and emoji count as the characters they are made of.
        assert_eq!(mask_partial("e\u{301}tude", 1, 1, "*").unwrap(), "e****e");
        assert_eq!(mask_partial("👍🏽ok👍", 1, 1, "*").unwrap(), "👍***👍");
    }

    #[test]
    fn mask_partial_refuses_negative_keeps_without_the_value() {
        for (s, e) in [(-1, 0), (0, -1), (i32::MIN, i32::MIN)] {
            let err = mask_partial("secret-value", s, e, "*").unwrap_err();
            assert!(matches!(err, MaskError::InvalidParameter(_)));
            assert!(!err.to_string().contains("secret"));
        }
    }

    #[test]
    fn mask_partial_caps_the_result() {
        let fill = "x".repeat(1 << 20);
        let value = "y".repeat(2048); // 2048 × 1 MiB > 1 GB
        assert_eq!(
            mask_partial(&value, 0, 0, &fill),
            Err(MaskError::ResultTooLong)
        );
        assert_eq!(mask_partial(&value, 0, 0, "z").unwrap().len(), 2048);
    }

    #[test]
    fn mask_email_examples() {
        assert_eq!(mask_email("alice@example.com"), "a****@example.com");
        assert_eq!(
            mask_email("bob.smith+tag@mail.example.jp"),
            "b************@mail.example.jp"
        );
        assert_eq!(mask_email("山田太郎@例え.jp"), "山***@例え.jp");
        assert_eq!(mask_email("\"a@b\"@example.com"), "\"****@example.com");
        assert_eq!(mask_email("a@example.com"), "*@example.com");
        assert_eq!(mask_email("@example.com"), "@example.com");
        assert_eq!(mask_email("alice@"), "a****@");
        assert_eq!(mask_email("not-an-email"), "n***********");
        assert_eq!(mask_email("x"), "*");
        assert_eq!(mask_email(""), "");
    }

    #[test]
    fn mask_phone_examples() {
        assert_eq!(mask_phone("090-1234-5678"), "***-****-5678");
        assert_eq!(
            mask_phone("０９０－１２３４－５６７８"),
            "***－****－５６７８"
        );
        assert_eq!(mask_phone("090-１２３４-5678"), "***-****-5678");
        assert_eq!(mask_phone("+81 (90) 1234-5678"), "+** (**) ****-5678");
        assert_eq!(mask_phone("09012345678"), "*******5678");
        assert_eq!(mask_phone("1234"), "****");
        assert_eq!(mask_phone("12-34"), "**-**");
        assert_eq!(mask_phone("12345"), "*2345");
        assert_eq!(mask_phone("no digits"), "no digits");
        // Digits of other scripts are digits too.
        assert_eq!(mask_phone("٠٩٠١٢٣٤٥٦٧٨"), "*******٥٦٧٨");
        assert_eq!(mask_phone(""), "");
    }

    #[test]
    fn mask_card_examples() {
        assert_eq!(mask_card("4111 1111 1111 1111"), "**** **** **** 1111");
        assert_eq!(mask_card("4111-1111-1111-1234"), "****-****-****-1234");
        assert_eq!(
            mask_card("４１１１　１１１１　１１１１　１２３４"),
            "****　****　****　１２３４"
        );
        assert_eq!(mask_card("12345678"), "****5678");
        assert_eq!(mask_card("1234567"), "*******");
        assert_eq!(mask_card(""), "");
    }

    #[test]
    fn mask_my_number_examples() {
        assert_eq!(mask_my_number("123456789012"), "********9012");
        assert_eq!(mask_my_number("1234-5678-9012"), "****-****-9012");
        assert_eq!(
            mask_my_number("１２３４ ５６７８ ９０１２"),
            "**** **** ９０１２"
        );
        assert_eq!(mask_my_number("1234567"), "*******");
    }

    #[test]
    fn mask_name_examples() {
        assert_eq!(mask_name("Alice Smith"), "A**** S****");
        assert_eq!(mask_name("山田 太郎"), "山* 太*");
        assert_eq!(mask_name("山田\u{3000}太郎"), "山*\u{3000}太*");
        assert_eq!(mask_name("鈴木一郎"), "鈴***");
        assert_eq!(mask_name("Jean-Luc Picard"), "J******* P*****");
        assert_eq!(mask_name("  Alice \t Smith  "), "  A**** \t S****  ");
        assert_eq!(mask_name("林 明"), "* *");
        assert_eq!(mask_name("J. R. Smith"), "J* R* S****");
        assert_eq!(mask_name("José"), "J***");
        assert_eq!(mask_name("Jose\u{301}"), "J****");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("   "), "   ");
    }

    #[test]
    fn weekday_known_dates() {
        // Checked against a calendar.
        for (y, m, d, wd) in [
            (2024, 5, 1, 3),
            (1970, 1, 1, 4),
            (2000, 1, 1, 6),
            (1900, 1, 1, 1),
            (2100, 12, 31, 5),
            (2024, 1, 1, 1),
            (2021, 1, 3, 7),
            (2000, 2, 29, 2),
            (1582, 10, 15, 5), // first day of the Gregorian calendar
        ] {
            assert_eq!(iso_weekday(y, m, d), wd, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 1, 1), 10_957);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
    }

    #[test]
    fn generalize_date_examples() {
        let g = |y, m, d, unit| generalize_date(y, m, d, unit).unwrap();
        assert_eq!(g(2024, 5, 17, "day"), (2024, 5, 17));
        assert_eq!(g(2024, 5, 1, "week"), (2024, 4, 29));
        assert_eq!(g(2024, 5, 17, "week"), (2024, 5, 13));
        assert_eq!(g(2024, 5, 13, "week"), (2024, 5, 13));
        assert_eq!(g(2024, 3, 2, "week"), (2024, 2, 26));
        assert_eq!(g(2021, 1, 3, "week"), (2020, 12, 28));
        assert_eq!(g(2024, 5, 17, "month"), (2024, 5, 1));
        assert_eq!(g(2024, 5, 17, "quarter"), (2024, 4, 1));
        assert_eq!(g(2024, 12, 31, "quarter"), (2024, 10, 1));
        assert_eq!(g(2024, 3, 31, "QUARTER"), (2024, 1, 1));
        assert_eq!(g(2024, 5, 17, "year"), (2024, 1, 1));
        assert_eq!(g(2024, 5, 17, "decade"), (2020, 1, 1));
        assert_eq!(g(2019, 12, 31, "Decade"), (2010, 1, 1));
        assert_eq!(g(-5, 6, 1, "decade"), (-10, 1, 1));
        assert_eq!(g(0, 2, 29, "decade"), (0, 1, 1));
    }

    #[test]
    fn generalize_date_refusals() {
        for (y, m, d) in [
            (2023, 2, 29),
            (2024, 13, 1),
            (2024, 0, 1),
            (2024, 4, 31),
            (2024, 1, 0),
        ] {
            assert!(matches!(
                generalize_date(y, m, d, "day"),
                Err(MaskError::InvalidParameter(_))
            ));
        }
        let err = generalize_date(2024, 5, 1, "fortnight").unwrap_err();
        let msg = err.to_string();
        for unit in DATE_UNITS {
            assert!(msg.contains(unit), "{msg}");
        }
        assert!(!msg.contains("2024"));
        // The ends of the i32 range: no panic, an error where the result does not fit.
        assert!(generalize_date(i32::MIN, 1, 1, "week").is_err()); // a Monday would be in i32::MIN - 1
        assert!(generalize_date(i32::MIN, 1, 1, "decade").is_err());
        for unit in DATE_UNITS {
            assert!(generalize_date(i32::MAX, 12, 31, unit).is_ok());
            let _ = generalize_date(i32::MIN, 1, 1, unit);
        }
    }

    #[test]
    fn generalize_int_examples() {
        assert_eq!(generalize_int(37, 10), Ok(30));
        assert_eq!(generalize_int(30, 10), Ok(30));
        assert_eq!(generalize_int(0, 10), Ok(0));
        assert_eq!(generalize_int(-1, 10), Ok(-10));
        assert_eq!(generalize_int(-10, 10), Ok(-10));
        assert_eq!(generalize_int(-11, 10), Ok(-20));
        assert_eq!(generalize_int(i64::MAX, 10), Ok(9_223_372_036_854_775_800));
        assert_eq!(generalize_int(i64::MIN, 10), Ok(i64::MIN));
        assert_eq!(generalize_int(i64::MIN, 2), Ok(i64::MIN));
        assert_eq!(generalize_int(i64::MIN, i64::MAX), Ok(i64::MIN));
        assert_eq!(generalize_int(-1, i64::MAX), Ok(-i64::MAX));
        assert_eq!(generalize_int(i64::MAX, i64::MAX), Ok(i64::MAX));
        assert_eq!(generalize_int(5, 1), Ok(5));
        for step in [0, -1, i64::MIN] {
            assert!(matches!(
                generalize_int(12_345, step),
                Err(MaskError::InvalidParameter(m)) if !m.contains("12345")
            ));
        }
    }

    #[test]
    fn base32_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            let mut out = String::new();
            push_base32(&mut out, input.as_bytes());
            assert_eq!(out, expected);
        }
        let mut out = String::new();
        push_base32(&mut out, &[0xff; 16]);
        assert_eq!(out, "7".repeat(25) + "4");
    }

    #[test]
    fn pseudonym_known_answers() {
        // Computed independently with Python's hmac, hashlib and base64 modules.
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            pseudonym(&key, "alice@example.com"),
            "tok_bzsz2fytb63jejb64nbzbkpoou"
        );
        assert_eq!(pseudonym(&key, ""), "tok_mc42cotinbdjrwrjmtxa6qoyom");
        assert_eq!(
            pseudonym(&key, "山田 太郎"),
            "tok_64a23eigo2vogefavbeat7cd2m"
        );
    }

    #[test]
    fn pseudonym_is_deterministic_and_keyed() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let t = pseudonym(&k1, "alice");
        assert_eq!(t, pseudonym(&k1, "alice"));
        assert_eq!(t, PseudonymKey::new(&k1).token("alice"));
        assert_ne!(t, pseudonym(&k2, "alice"));
        assert_ne!(t, pseudonym(&k1, "Alice"));
        assert_eq!(t.len(), PSEUDONYM_LEN);
        assert!(t.starts_with(PSEUDONYM_PREFIX));
        assert!(t[4..].bytes().all(|b| BASE32_ALPHABET.contains(&b)));
        assert_eq!(
            format!("{:?}", PseudonymKey::new(&k1)),
            "PseudonymKey(<redacted>)"
        );
    }

    // --- properties -----------------------------------------------------------------------

    /// Characters that stress the masks: anything at all, plus combining marks, emoji and
    /// their modifiers and joiners, digits of several widths and scripts, separators.
    fn tricky_char() -> impl Strategy<Value = char> {
        prop_oneof![
            3 => any::<char>(),
            2 => proptest::char::range('\u{0300}', '\u{036F}'),
            2 => proptest::char::range('\u{1F300}', '\u{1FAFF}'),
            1 => proptest::char::range('\u{1F3FB}', '\u{1F3FF}'),
            2 => proptest::char::range('0', '9'),
            2 => proptest::char::range('０', '９'),
            1 => proptest::char::range('٠', '٩'),
            1 => proptest::char::range('ぁ', 'ゖ'),
            1 => proptest::char::range('一', '龥'),
            4 => prop::sample::select(vec![
                ' ', '\u{3000}', '\t', '\u{00A0}', '-', '－', '+', '(', ')', '@', '.', '*',
                '\u{200D}', '\u{FE0F}', 'a', 'Z', 'é', '²', '½', '①', '〇',
            ]),
        ]
    }

    fn tricky_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(tricky_char(), 0..48).prop_map(|v| v.into_iter().collect())
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    /// Positions where the output shows the input's character (and it is not the mask).
    fn revealed(input: &[char], output: &[char], mask: char) -> usize {
        input
            .iter()
            .zip(output)
            .filter(|(i, o)| i == o && **o != mask)
            .count()
    }

    /// A date between 1900 and 2100.
    fn date_1900_2100() -> impl Strategy<Value = (i32, u32, u32)> {
        (1900i32..=2100, 1u32..=12, 1u32..=31)
            .prop_map(|(y, m, d)| (y, m, d.min(days_in_month(y, m))))
    }

    /// Weekday by counting: days since Monday 1900-01-01, year by year and month by month.
    fn reference_weekday(y: i32, m: u32, d: u32) -> u32 {
        let mut days: i64 = 0;
        for year in 1900..y {
            days += if is_leap_year(year) { 366 } else { 365 };
        }
        for month in 1..m {
            days += i64::from(days_in_month(y, month));
        }
        days += i64::from(d) - 1;
        (days % 7) as u32 + 1
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn nothing_panics(
            s in tricky_text(),
            ks in any::<i32>(),
            ke in any::<i32>(),
            fill in tricky_text(),
            unit in prop::sample::select(vec!["day", "week", "month", "quarter", "year", "decade", "x", ""]),
            y in any::<i32>(),
            m in any::<u32>(),
            d in any::<u32>(),
            v in any::<i64>(),
            step in any::<i64>(),
        ) {
            let _ = mask_partial(&s, ks, ke, &fill);
            let _ = mask_partial(&s, ks.rem_euclid(64), ke.rem_euclid(64), &fill);
            let _ = mask_email(&s);
            let _ = mask_phone(&s);
            let _ = mask_card(&s);
            let _ = mask_my_number(&s);
            let _ = mask_name(&s);
            let _ = pseudonym(&[7; 32], &s);
            let _ = generalize_date(y, m, d, unit);
            let _ = generalize_date(y, m % 13, d % 32, unit);
            let _ = generalize_int(v, step);
            let _ = iso_weekday(y, m, d);
        }

        #[test]
        fn mask_partial_reveals_only_the_kept_chars(
            s in tricky_text(),
            ks in 0i32..20,
            ke in 0i32..20,
            fill in tricky_char(),
        ) {
            let input = chars(&s);
            let out = mask_partial(&s, ks, ke, &fill.to_string()).unwrap();
            let output = chars(&out);
            prop_assert_eq!(output.len(), input.len());
            let keep = (ks + ke) as usize;
            let shown = revealed(&input, &output, fill);
            prop_assert!(shown <= keep);
            if input.len() > keep {
                let kept: Vec<usize> = (0..ks as usize).chain(input.len() - ke as usize..input.len()).collect();
                for &i in &kept {
                    prop_assert_eq!(output[i], input[i]);
                }
                let kept_not_fill = kept.iter().filter(|&&i| input[i] != fill).count();
                prop_assert_eq!(shown, kept_not_fill);
                // Exactly keep_start + keep_end when the value does not contain the fill.
                if !input.contains(&fill) {
                    prop_assert_eq!(shown, keep);
                }
            } else {
                prop_assert_eq!(shown, 0);
                prop_assert!(output.iter().all(|&c| c == fill));
            }
        }

        #[test]
        fn mask_partial_multi_char_fill_shape(
            s in tricky_text(),
            ks in 0i32..20,
            ke in 0i32..20,
            fill in tricky_text(),
        ) {
            let input = chars(&s);
            let out = mask_partial(&s, ks, ke, &fill).unwrap();
            let fill_len = fill.chars().count();
            let keep = (ks + ke) as usize;
            if input.len() > keep {
                let head: String = input[..ks as usize].iter().collect();
                let tail: String = input[input.len() - ke as usize..].iter().collect();
                let middle = fill.repeat(input.len() - keep);
                prop_assert_eq!(out, format!("{head}{middle}{tail}"));
            } else {
                prop_assert_eq!(out.chars().count(), input.len() * fill_len);
                prop_assert_eq!(out, fill.repeat(input.len()));
            }
        }

        #[test]
        fn number_masks_keep_shape_and_show_at_most_four_digits(s in tricky_text()) {
            let input = chars(&s);
            for (out, min_digits) in [(mask_phone(&s), 5), (mask_card(&s), 8), (mask_my_number(&s), 8)] {
                let output = chars(&out);
                prop_assert_eq!(output.len(), input.len());
                let mut shown = 0;
                for (&i, &o) in input.iter().zip(&output) {
                    if is_digit(i) {
                        prop_assert!(o == i || o == MASK_CHAR);
                        if o == i {
                            shown += 1;
                        }
                    } else {
                        prop_assert_eq!(o, i);
                    }
                }
                let digits = input.iter().filter(|&&c| is_digit(c)).count();
                let expected = if digits >= min_digits { 4 } else { 0 };
                prop_assert_eq!(shown, expected);
                prop_assert!(shown <= 4);
            }
        }

        #[test]
        fn mask_name_shows_at_most_one_char_per_word(s in tricky_text()) {
            let out = mask_name(&s);
            let input = chars(&s);
            let output = chars(&out);
            prop_assert_eq!(output.len(), input.len());
            let mut word_start = true;
            let mut shown_in_word = 0;
            for (&i, &o) in input.iter().zip(&output) {
                if i.is_whitespace() {
                    prop_assert_eq!(o, i);
                    word_start = true;
                    continue;
                }
                if word_start {
                    shown_in_word = 0;
                    word_start = false;
                }
                if o != MASK_CHAR {
                    prop_assert_eq!(o, i);
                    shown_in_word += 1;
                }
                prop_assert!(shown_in_word <= 1);
            }
        }

        #[test]
        fn mask_email_keeps_domain_and_shows_at_most_one_local_char(s in tricky_text()) {
            let out = mask_email(&s);
            prop_assert_eq!(out.chars().count(), s.chars().count());
            let (local_in, local_out) = match s.rfind('@') {
                Some(at) => {
                    prop_assert_eq!(&out[out.len() - (s.len() - at)..], &s[at..]);
                    (&s[..at], &out[..out.len() - (s.len() - at)])
                }
                None => (s.as_str(), out.as_str()),
            };
            prop_assert!(revealed(&chars(local_in), &chars(local_out), MASK_CHAR) <= 1);
        }

        #[test]
        fn generalize_int_is_the_floor_of_the_bucket(value in any::<i64>(), step in prop_oneof![1i64..1000, 1i64..=i64::MAX]) {
            let r = generalize_int(value, step).unwrap();
            prop_assert!(r <= value);
            let gap = i128::from(value) - i128::from(r);
            prop_assert!(gap < i128::from(step));
            // A multiple of step, unless the bucket was cut off at i64::MIN.
            prop_assert!(r == i64::MIN || i128::from(r).rem_euclid(i128::from(step)) == 0);
        }

        #[test]
        fn weekday_matches_counting_reference((y, m, d) in date_1900_2100()) {
            prop_assert_eq!(iso_weekday(y, m, d), reference_weekday(y, m, d));
        }

        #[test]
        fn consecutive_days_are_one_apart(y in -1_000_000i32..1_000_000, m in 1u32..=12, d in 1u32..=31) {
            let d = d.min(days_in_month(y, m));
            let (ny, nm, nd) = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            prop_assert_eq!(days_from_civil(ny, nm, nd) - days_from_civil(y, m, d), 1);
            prop_assert_eq!(iso_weekday(ny, nm, nd), iso_weekday(y, m, d) % 7 + 1);
        }

        #[test]
        fn generalize_date_stays_in_the_bucket((y, m, d) in date_1900_2100()) {
            for unit in DATE_UNITS {
                let (ry, rm, rd) = generalize_date(y, m, d, unit).unwrap();
                prop_assert!((ry, rm, rd) <= (y, m, d), "{unit}");
                prop_assert!((1..=12).contains(&rm) && (1..=days_in_month(ry, rm)).contains(&rd));
                match unit {
                    "day" => prop_assert_eq!((ry, rm, rd), (y, m, d)),
                    "week" => {
                        prop_assert_eq!(iso_weekday(ry, rm, rd), 1);
                        // 1900-01-01 was a Monday, so the week never starts before 1900.
                        prop_assert_eq!(reference_weekday(ry, rm, rd), 1);
                        let gap = days_from_civil(y, m, d) - days_from_civil(ry, rm, rd);
                        prop_assert!((0..7).contains(&gap));
                        prop_assert_eq!(gap, i64::from(reference_weekday(y, m, d)) - 1);
                    }
                    "month" => prop_assert_eq!((ry, rm, rd), (y, m, 1)),
                    "quarter" => {
                        prop_assert_eq!((ry, rd), (y, 1));
                        prop_assert_eq!((rm - 1) % 3, 0);
                        prop_assert_eq!((rm - 1) / 3, (m - 1) / 3);
                    }
                    "year" => prop_assert_eq!((ry, rm, rd), (y, 1, 1)),
                    "decade" => {
                        prop_assert_eq!((rm, rd), (1, 1));
                        prop_assert_eq!(ry % 10, 0);
                        prop_assert!((0..10).contains(&(y - ry)));
                    }
                    _ => unreachable!(),
                }
            }
        }

        #[test]
        fn pseudonym_shape(s in tricky_text(), key in any::<[u8; 32]>()) {
            let t = pseudonym(&key, &s);
            prop_assert_eq!(t.len(), PSEUDONYM_LEN);
            prop_assert!(t.starts_with(PSEUDONYM_PREFIX));
            prop_assert!(t[4..].bytes().all(|b| BASE32_ALPHABET.contains(&b)));
            prop_assert_eq!(&t, &pseudonym(&key, &s));
        }
    }
}
