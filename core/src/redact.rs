//! PII detection and redaction in free text (`privacy.redact`, `privacy.detect_pii`,
//! `privacy.scan_table`). The contract is `tests/corpus/SPEC.md`; this module implements it.
//!
//! # Passes
//!
//! 1. **Survey** (one walk over the bytes, no regex). A tight loop skips to the next ASCII
//!    digit, '@', ':' or full-width form; around each digit it cuts out the *digit cluster*,
//!    the maximal run of digits and of the characters that may join them in a phone, card,
//!    Individual Number or IPv4 address (spaces, hyphens, '.', parentheses, '+', ASCII or
//!    full-width). A digit shape's match lies inside one cluster, and a cluster with fewer than
//!    7 digits (or 4 digits and 3 dots for IPv4) holds none: prices, Japanese dates, times and
//!    short order numbers cost nothing further. The walk also notes '@' (email), colons (IPv6)
//!    and, when there is a digit, '〒' or '郵' (postal codes). Text with no digit and no '@'
//!    (most support messages without PII) stops here.
//! 2. **Candidate shapes.** Each remaining cluster goes through one [`RegexSet`] of the digit
//!    shapes, which says which shapes occur in it at all (dates like `2024-05-01`, 8-digit order
//!    numbers usually match none). The shapes that occur are then tried, *anchored*, at every
//!    position of the cluster where a shape may start (a digit, '(' or '+' not preceded by a
//!    digit): every start is tried, so a rejected candidate never hides a valid one starting
//!    inside it, and each attempt costs only its own length. Email, postal codes and IPv6 are
//!    searched over the whole text, only when the survey saw what they need.
//! 3. **Validation** of every candidate in code: the Luhn check for cards, the check digit of
//!    the Individual Number, digit counts, octet ranges, IPv6 group rules and the context rules
//!    of the spec (what may precede or follow a match). Rust's `regex` guarantees linear-time
//!    matching (no backtracking, so no ReDoS, also for custom patterns).
//! 4. **Resolution.** All candidates of all categories (built-in and custom) are sorted by
//!    start, longest first, and picked greedily: findings never overlap, the leftmost wins, at
//!    the same start the longest wins (at an equal span, built-in categories before custom
//!    ones, in the order of [`BUILTIN_CATEGORIES`], then custom patterns in their order).
//!
//! Custom patterns are each searched over the whole text (a custom pattern can match anything,
//! so the survey cannot rule it out).
//!
//! A digit run shaped like a card (13-19 digits, contiguous or grouped like a card) that fails
//! the Luhn check is "not a card, and not anything else" (spec): it enters the resolution as a
//! *veto*, which takes part like a finding, is never reported, and suppresses built-in
//! candidates that overlap it and start inside it (custom patterns are not vetoed: a custom
//! pattern may well target such numbers).
//!
//! The `categories` filter is applied after resolution: a text is always analysed with every
//! category, and the filter only chooses what is reported. So restricting the filter never
//! makes a category report something it would not report unfiltered (a 16-digit card never
//! turns into an Individual Number when only `my_number` is asked for).
//!
//! Offsets given out are character offsets (0-based, end exclusive), computed in one walk.
//!
//! # Decisions where the spec leaves room
//!
//! - "Hyphen" is the spec's set everywhere a separator may be a hyphen; "space" in digit groups
//!   is a single ASCII space or a single ideographic space U+3000.
//! - Digit groups (phones, cards, Individual Numbers, postal codes) must be whole: besides the
//!   spec's "not preceded or followed by a digit", a match may not be preceded by a digit and a
//!   hyphen or '.', nor followed by a hyphen or '.' and a digit (`090-1234-5678-9` is not a
//!   phone). A single space does not join groups, so a card followed by its security code
//!   (`4111 1111 1111 1111 123`) is still a card: when a grouped candidate fails, shorter
//!   candidates ending at earlier group boundaries are tried.
//! - Cards in groups: a first group of 4 digits, then 2 to 4 groups of 3 to 6 digits (covers
//!   4-4-4-4, 4-6-5, 4-6-4, 4-4-5, 4-4-4-4-3); separators may mix. A grouped card-like run
//!   whose every prefix (of 13-19 digits, at a group boundary) fails Luhn is a veto (below).
//! - Japanese domestic numbers: first group `0` + 1-4 digits, then one or two groups; or
//!   `(0X)` / `0X(XXXX)` with parentheses; or 10-11 contiguous digits. The '0' may be
//!   full-width. The total is checked (10 or 11 digits), not the area code.
//! - North American numbers may carry a leading `1` and separator (`1-800-555-0199`); their
//!   separators are hyphens, '.', or single spaces. Area codes are not checked against NANP.
//! - International numbers: the first digit group after '+' (the country code) has 1-3 digits
//!   when separators follow; a number written without any separator (`+819012345678`) needs at
//!   least [`MIN_INTL_CONTIGUOUS`] digits, so a bare `+1234567` is not a phone. A parenthesised
//!   group (`+44 (0)20 ...`, `+1 (212) ...`) counts as a group. The longest prefix ending after a
//!   group with 7-15 digits and a valid end is the number: so with too many digits, trailing
//!   groups are dropped (not inside a hyphenated run), and a last group that starts a time or a
//!   date (followed by ':' or '/' and a digit: `+81 90 1234 5678 10:00`) is not part of it.
//! - Parentheses in phone numbers may be ASCII or full-width.
//! - Postal codes: spaces (ASCII or U+3000) are also allowed between '郵便番号' and ':'. The code
//!   may not be followed by a digit (or a hyphen and a digit).
//! - IPv4 octets are ASCII digits only; "a letter" in the context rule is an ASCII letter (a
//!   Japanese character before an address does not hide it).
//! - IPv6: a maximal run of hex digits, ':' and '.'; a trailing '.' (end of sentence) or a
//!   single trailing ':' is not part of it; if the run is glued to a preceding ASCII letter
//!   (`IPv6:fe80::1`) the address starts after the first single ':' (a '::' there: no address);
//!   a run followed by an ASCII letter or '_' is not an address; a run that is not an address
//!   as a whole holds none; at least one hex group (a bare `::` is not an address); and at
//!   least one decimal digit (so `Base::Add` or `cafe::beef` in a code snippet is not one).
//! - Email: the local part also accepts '_' (`john_doe@example.com` must not leave `john_`
//!   behind); a match is not required to end at a word boundary.
//! - Custom categories match the filter by exact name; built-in names are lower case.

use std::borrow::Cow;
use std::fmt;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// Names of the built-in categories, in their tie-break order.
pub const BUILTIN_CATEGORIES: [&str; 6] =
    ["email", "phone", "card", "my_number", "postal_code", "ip"];

/// Compiled-size limit of a custom pattern (regex crate `size_limit`).
pub const CUSTOM_PATTERN_SIZE_LIMIT: usize = 1 << 20;
/// Lazy-DFA cache limit of a custom pattern (regex crate `dfa_size_limit`).
pub const CUSTOM_PATTERN_DFA_LIMIT: usize = 1 << 20;
/// Longest custom pattern text accepted, in bytes.
pub const CUSTOM_PATTERN_MAX_LEN: usize = 4096;
/// Digits needed by an international number written without separators.
pub const MIN_INTL_CONTIGUOUS: usize = 10;

/// A category's built-in index (into [`BUILTIN_CATEGORIES`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cat {
    Email = 0,
    Phone = 1,
    Card = 2,
    MyNumber = 3,
    PostalCode = 4,
    Ip = 5,
}

const BUILTIN_LABELS: [&str; 6] = [
    "[EMAIL]",
    "[PHONE]",
    "[CARD]",
    "[MY_NUMBER]",
    "[POSTAL_CODE]",
    "[IP]",
];

/// Candidate shapes, one regex each.
#[derive(Clone, Copy)]
enum Shape {
    Email = 0,
    PhoneJp,
    PhoneNa,
    PhoneIntl,
    Card,
    MyNumber,
    Postal,
    Ipv4,
    Ipv6,
}

const SHAPES: [Shape; 9] = [
    Shape::Email,
    Shape::PhoneJp,
    Shape::PhoneNa,
    Shape::PhoneIntl,
    Shape::Card,
    Shape::MyNumber,
    Shape::Postal,
    Shape::Ipv4,
    Shape::Ipv6,
];

/// The shapes made only of digits and digit separators: searched only inside digit clusters
/// (see [`survey`]), first all at once with a [`RegexSet`], then one by one.
const DIGIT_SHAPES: [Shape; 6] = [
    Shape::PhoneJp,
    Shape::PhoneNa,
    Shape::PhoneIntl,
    Shape::Card,
    Shape::MyNumber,
    Shape::Ipv4,
];

// Character classes used to write the shapes. `<D>` digit (ASCII or full-width), `<H>` hyphen
// (the spec's set), `<SP>` a space, `<G>` a digit-group separator (space or hyphen), `<N>` a
// separator of North American / international numbers (space, hyphen or '.'), `<ZERO>` and
// `<ONE>` the digits 0 and 1 (ASCII or full-width), `<LP>`/`<RP>`
// parentheses (ASCII or full-width), `<PLUS>` '+' or '＋', `<POST>` '〒'.
const CLASSES: [(&str, &str); 11] = [
    ("<D>", r"[0-9\x{FF10}-\x{FF19}]"),
    ("<ZERO>", r"[0\x{FF10}]"),
    ("<ONE>", r"[1\x{FF11}]"),
    ("<H>", r"[\x2D\x{FF0D}\x{2010}-\x{2015}\x{2212}\x{30FC}]"),
    ("<SP>", r"[\x20\x{3000}]"),
    (
        "<G>",
        r"[\x20\x{3000}\x2D\x{FF0D}\x{2010}-\x{2015}\x{2212}\x{30FC}]",
    ),
    (
        "<N>",
        r"[\x20\x{3000}.\x2D\x{FF0D}\x{2010}-\x{2015}\x{2212}\x{30FC}]",
    ),
    ("<LP>", r"[(\x{FF08}]"),
    ("<RP>", r"[)\x{FF09}]"),
    ("<PLUS>", r"[+\x{FF0B}]"),
    ("<POST>", r"\x{3012}"),
];

const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])";

fn shape_template(shape: Shape) -> &'static str {
    match shape {
        Shape::Email => concat!(
            // Local part: not starting or ending with '.'.
            r"[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]*[A-Za-z0-9_%+\-])?",
            // Domain: labels, then an alphabetic TLD of 2 letters or more.
            r"@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
        ),
        Shape::PhoneJp => concat!(
            r"<ZERO><D>{9,10}",
            r"|<LP><ZERO><D>{1,4}<RP><SP>?(?:<D>{1,4}<G><D>{3,4}|<D>{4,8})",
            r"|<ZERO><D>{1,4}<SP>?<LP><D>{1,4}<RP><SP>?<D>{3,4}",
            r"|<ZERO><D>{1,4}<G><D>{1,4}<G><D>{3,4}",
            r"|<ZERO><D>{1,4}<G><D>{4,8}",
        ),
        Shape::PhoneNa => concat!(
            r"(?:<ONE><N>)?",
            r"(?:<LP><D>{3}<RP><SP>?<D>{3}<N><D>{4}|<D>{3}<N><D>{3}<N><D>{4})",
        ),
        Shape::PhoneIntl => r"<PLUS><D>+(?:(?:<N>|<SP>?<LP><D>{1,4}<RP><SP>?)<D>+)*",
        Shape::Card => r"<D>{13,19}|<D>{4}(?:<G><D>{3,6}){2,4}",
        Shape::MyNumber => r"<D>{12}|<D>{4}<G><D>{4}<G><D>{4}",
        Shape::Postal => r"(?:<POST><SP>*|郵便番号<SP>*[:\x{FF1A}]?<SP>*)<D>{3}<H>?<D>{4}",
        Shape::Ipv4 => "<OCT>(?:\\.<OCT>){3}",
        Shape::Ipv6 => r"[0-9A-Fa-f.:]*::[0-9A-Fa-f.:]*|(?:[0-9A-Fa-f.]*:){7,}[0-9A-Fa-f.]*",
    }
}

fn shape_pattern(shape: Shape) -> String {
    let mut p = shape_template(shape).replace("<OCT>", OCTET);
    for (name, class) in CLASSES {
        p = p.replace(name, class);
    }
    p
}

/// Why a custom pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// Not a valid Rust `regex` pattern; the message is the regex crate's.
    Invalid(String),
    /// The compiled pattern would exceed [`CUSTOM_PATTERN_SIZE_LIMIT`], or the pattern text
    /// exceeds [`CUSTOM_PATTERN_MAX_LEN`].
    TooLarge(String),
    /// The pattern can match the empty string.
    MatchesEmpty,
    /// The category is empty.
    EmptyCategory,
    /// The error of the custom pattern with this name.
    InPattern {
        name: String,
        error: Box<PatternError>,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Invalid(msg) => write!(f, "invalid regular expression: {msg}"),
            PatternError::TooLarge(msg) => write!(f, "pattern too large: {msg}"),
            PatternError::MatchesEmpty => {
                f.write_str("pattern matches the empty string (it would match everywhere)")
            }
            PatternError::EmptyCategory => f.write_str("pattern category must not be empty"),
            PatternError::InPattern { name, error } => write!(f, "pattern \"{name}\": {error}"),
        }
    }
}

impl std::error::Error for PatternError {}

/// A custom redaction pattern (a row of `privacy.redaction_patterns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomPattern {
    pub name: String,
    pub category: String,
    /// Rust `regex` syntax.
    pub pattern: String,
}

/// One piece of PII found in a text. Offsets are in characters, 0-based, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding<'d> {
    pub category: &'d str,
    pub start: usize,
    pub end: usize,
}

/// A short text with word and line boundaries: a custom pattern with an empty match in it
/// (`\b`, `(?m)^`, ...) is refused even if it does not match the empty text itself.
const EMPTY_PROBE: &str = "a 0\n.あ-";

fn compile_custom(pattern: &str) -> Result<Regex, PatternError> {
    if pattern.len() > CUSTOM_PATTERN_MAX_LEN {
        return Err(PatternError::TooLarge(format!(
            "the pattern is {} bytes long, the limit is {CUSTOM_PATTERN_MAX_LEN}",
            pattern.len()
        )));
    }
    let re = RegexBuilder::new(pattern)
        .size_limit(CUSTOM_PATTERN_SIZE_LIMIT)
        .dfa_size_limit(CUSTOM_PATTERN_DFA_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => PatternError::TooLarge(format!(
                "the compiled pattern exceeds the limit of {limit} bytes"
            )),
            other => PatternError::Invalid(other.to_string()),
        })?;
    if re.is_match("") || re.find_iter(EMPTY_PROBE).any(|m| m.is_empty()) {
        return Err(PatternError::MatchesEmpty);
    }
    Ok(re)
}

/// Checks a custom pattern as `privacy.redaction_patterns` does on insert: valid Rust regex
/// syntax, compiled size within [`CUSTOM_PATTERN_SIZE_LIMIT`], never matching the empty string.
pub fn validate_pattern(pattern: &str) -> Result<(), PatternError> {
    compile_custom(pattern).map(|_| ())
}

struct Custom {
    category: String,
    label: String,
    regex: Regex,
}

/// The detector: built-in shapes and custom patterns, compiled once and reused (it is
/// `Send + Sync`; the extension keeps one per backend).
pub struct Detector {
    /// The members of [`DIGIT_SHAPES`], in that order.
    digit_set: RegexSet,
    /// Indexed by [`Shape`]; the digit shapes anchored at the start.
    shapes: Vec<Regex>,
    custom: Vec<Custom>,
}

/// What a candidate span is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Builtin(Cat),
    Custom(usize),
    Veto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    kind: Kind,
}

impl Span {
    fn rank(&self) -> usize {
        match self.kind {
            Kind::Builtin(c) => c as usize,
            Kind::Custom(i) => BUILTIN_CATEGORIES.len() + i,
            Kind::Veto => usize::MAX,
        }
    }
}

impl Detector {
    /// The built-in categories only.
    pub fn builtin() -> Detector {
        // Digit shapes are only run anchored (at the start of a slice).
        let shapes = SHAPES
            .iter()
            .map(|&s| {
                let p = shape_pattern(s);
                let p = if DIGIT_SHAPES.iter().any(|&d| d as usize == s as usize) {
                    format!("^(?:{p})")
                } else {
                    p
                };
                Regex::new(&p).expect("built-in shape compiles")
            })
            .collect();
        let digit_set = RegexSetBuilder::new(DIGIT_SHAPES.iter().map(|&s| shape_pattern(s)))
            .build()
            .expect("built-in shapes compile");
        Detector {
            digit_set,
            shapes,
            custom: Vec::new(),
        }
    }

    /// The built-in categories plus custom patterns; fails on the first invalid pattern.
    pub fn with_custom(patterns: &[CustomPattern]) -> Result<Detector, PatternError> {
        let mut d = Detector::builtin();
        for p in patterns {
            let named = |error| PatternError::InPattern {
                name: p.name.clone(),
                error: Box::new(error),
            };
            if p.category.is_empty() {
                return Err(named(PatternError::EmptyCategory));
            }
            let regex = compile_custom(&p.pattern).map_err(named)?;
            d.custom.push(Custom {
                category: p.category.clone(),
                label: format!("[{}]", p.category.to_uppercase()),
                regex,
            });
        }
        Ok(d)
    }

    /// The replacement text of a category ('[EMAIL]', custom '[X]'), if it is known.
    pub fn label(&self, category: &str) -> Option<&str> {
        if let Some(i) = BUILTIN_CATEGORIES.iter().position(|&c| c == category) {
            return Some(BUILTIN_LABELS[i]);
        }
        self.custom
            .iter()
            .find(|c| c.category == category)
            .map(|c| c.label.as_str())
    }

    /// The findings of `text`, in character offsets, sorted and non-overlapping. `categories`
    /// None reports every category; otherwise only the named ones (unknown names match nothing).
    pub fn detect(&self, text: &str, categories: Option<&[&str]>) -> Vec<Finding<'_>> {
        let spans = self.find_spans(text, categories);
        let mut out = Vec::with_capacity(spans.len());
        let mut pos = 0;
        let mut chars = 0;
        for sp in &spans {
            chars += text[pos..sp.start].chars().count();
            let start = chars;
            chars += text[sp.start..sp.end].chars().count();
            pos = sp.end;
            out.push(Finding {
                category: self.category_name(sp.kind),
                start,
                end: chars,
            });
        }
        out
    }

    /// `text` with each finding replaced by its label; borrowed and untouched when there is
    /// nothing to replace. Everything outside the findings is kept byte for byte.
    pub fn redact<'t>(&self, text: &'t str, categories: Option<&[&str]>) -> Cow<'t, str> {
        let spans = self.find_spans(text, categories);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for sp in &spans {
            out.push_str(&text[pos..sp.start]);
            out.push_str(self.span_label(sp.kind));
            pos = sp.end;
        }
        out.push_str(&text[pos..]);
        Cow::Owned(out)
    }

    fn category_name(&self, kind: Kind) -> &str {
        match kind {
            Kind::Builtin(c) => BUILTIN_CATEGORIES[c as usize],
            Kind::Custom(i) => &self.custom[i].category,
            Kind::Veto => "",
        }
    }

    fn span_label(&self, kind: Kind) -> &str {
        match kind {
            Kind::Builtin(c) => BUILTIN_LABELS[c as usize],
            Kind::Custom(i) => &self.custom[i].label,
            Kind::Veto => "",
        }
    }

    /// Resolved findings in byte offsets, filtered by `categories`.
    fn find_spans(&self, text: &str, categories: Option<&[&str]>) -> Vec<Span> {
        let mut cands = Vec::new();
        let sv = survey(text, |cs, ce| self.scan_cluster(text, cs, ce, &mut cands));
        if sv.at_sign {
            self.scan_shape(Shape::Email, text, &mut cands);
        }
        if sv.postal_marker {
            self.scan_shape(Shape::Postal, text, &mut cands);
        }
        if sv.any_digit && (sv.double_colon || sv.colons >= 7) {
            self.scan_shape(Shape::Ipv6, text, &mut cands);
        }
        for (i, c) in self.custom.iter().enumerate() {
            for m in c.regex.find_iter(text) {
                if !m.is_empty() {
                    cands.push(Span {
                        start: m.start(),
                        end: m.end(),
                        kind: Kind::Custom(i),
                    });
                }
            }
        }
        if cands.is_empty() {
            return cands;
        }
        let mut spans = resolve(cands);
        if let Some(wanted) = categories {
            spans.retain(|sp| wanted.contains(&self.category_name(sp.kind)));
        }
        spans
    }

    /// The digit shapes in the cluster `text[cs..ce]` (the context checks see all of `text`):
    /// the shapes the set finds in it are tried, anchored, at every position where a shape
    /// may start (a digit, '(' or '+' not preceded by a digit). So a rejected candidate never
    /// hides a valid one starting inside it, and each attempt costs only its own length.
    fn scan_cluster(&self, text: &str, cs: usize, ce: usize, out: &mut Vec<Span>) {
        let cluster = &text[cs..ce];
        if !self.digit_set.is_match(cluster) {
            return;
        }
        let hits = self.digit_set.matches(cluster);
        let mut prev = prev_char(text, cs);
        for (off, c) in cluster.char_indices() {
            let may_start = !prev.is_some_and(is_digit)
                && (is_digit(c) || matches!(c, '(' | '+' | '\u{FF08}' | '\u{FF0B}'));
            prev = Some(c);
            if !may_start {
                continue;
            }
            let s = cs + off;
            for (k, &shape) in DIGIT_SHAPES.iter().enumerate() {
                if !hits.matched(k) {
                    continue;
                }
                let Some(m) = self.shapes[shape as usize].find(&text[s..ce]) else {
                    continue;
                };
                let e = s + m.end();
                match shape {
                    Shape::PhoneJp | Shape::PhoneNa => check_phone(text, s, e, out),
                    Shape::PhoneIntl => check_intl(text, s, e, out),
                    Shape::Card => check_card(text, s, e, out),
                    Shape::MyNumber => check_my_number(text, s, e, out),
                    Shape::Ipv4 => check_ipv4(text, s, e, out),
                    _ => {}
                }
            }
        }
    }

    fn scan_shape(&self, shape: Shape, text: &str, out: &mut Vec<Span>) {
        let re = &self.shapes[shape as usize];
        match shape {
            Shape::Email => {
                for m in re.find_iter(text) {
                    out.push(span(m.start(), m.end(), Cat::Email));
                }
            }
            Shape::Postal => {
                for m in re.find_iter(text) {
                    // The marker and its spaces hold no digit: the code starts at the first.
                    let Some(off) = m.as_str().find(|c: char| is_digit(c)) else {
                        continue;
                    };
                    if !right_blocked(text, m.end()) {
                        out.push(span(m.start() + off, m.end(), Cat::PostalCode));
                    }
                }
            }
            Shape::Ipv6 => {
                for m in re.find_iter(text) {
                    if let Some((s, e)) = ipv6_in_run(text, m.start(), m.end()) {
                        out.push(span(s, e, Cat::Ip));
                    }
                }
            }
            _ => {}
        }
    }
}

fn span(start: usize, end: usize, cat: Cat) -> Span {
    Span {
        start,
        end,
        kind: Kind::Builtin(cat),
    }
}

/// Leftmost wins; at the same start the longest; then the rank. Vetoes suppress built-in
/// candidates starting inside them and are dropped.
fn resolve(mut cands: Vec<Span>) -> Vec<Span> {
    cands.sort_unstable_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(a.rank().cmp(&b.rank()))
    });
    let mut last_end = 0;
    let mut veto_end = 0;
    cands.retain(|c| {
        if c.start < last_end || c.start >= c.end {
            return false;
        }
        match c.kind {
            Kind::Veto => {
                veto_end = veto_end.max(c.end);
                false
            }
            Kind::Builtin(_) if c.start < veto_end => false,
            _ => {
                last_end = c.end;
                true
            }
        }
    });
    cands
}

/// What the first pass saw of a text.
#[derive(Default)]
struct Survey {
    at_sign: bool,
    /// '〒' or '郵' (only looked for when there is a digit).
    postal_marker: bool,
    colons: usize,
    double_colon: bool,
    any_digit: bool,
}

/// Whether a digit cluster may hold a digit shape: every shape but IPv4 has 7 digits or more
/// (an international number), and an IPv4 address has 4 digits or more and 3 dots.
fn may_hold_shape(digits: usize, dots: usize) -> bool {
    digits >= 7 || (digits >= 4 && dots >= 3)
}

/// Bytes at which the first pass stops: ASCII digits, '@', ':', and 0xEF (the lead byte of the
/// full-width forms, among them the full-width digits). Everything else is skipped by a
/// tight, well-predicted loop.
const STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = true;
        c += 1;
    }
    t[b'@' as usize] = true;
    t[b':' as usize] = true;
    t[0xEF] = true;
    t
};

/// A full-width digit (EF BC 90..99) at `b[i]`.
fn fullwidth_digit_at(b: &[u8], i: usize) -> bool {
    b[i] == 0xEF
        && b.get(i + 1) == Some(&0xBC)
        && b.get(i + 2).is_some_and(|&c| (0x90..=0x99).contains(&c))
}

/// The digit or joiner starting at `b[i]`: (is a digit, byte length). Joiners are the
/// characters that may join digits in a digit shape: space, U+3000, the spec's hyphens, '.',
/// parentheses and '+' (ASCII or full-width).
fn cluster_char_at(b: &[u8], i: usize) -> Option<(bool, usize)> {
    match b[i] {
        b'0'..=b'9' => Some((true, 1)),
        b' ' | b'-' | b'.' | b'(' | b')' | b'+' => Some((false, 1)),
        0xE2 | 0xE3 | 0xEF => {
            let tail = (b.get(i + 1).copied(), b.get(i + 2).copied());
            match (b[i], tail) {
                (0xEF, (Some(0xBC), Some(0x90..=0x99))) => Some((true, 3)),
                (0xEF, (Some(0xBC), Some(0x88 | 0x89 | 0x8B | 0x8D)))
                | (0xE2, (Some(0x80), Some(0x90..=0x95)))
                | (0xE2, (Some(0x88), Some(0x92)))
                | (0xE3, (Some(0x80), Some(0x80)))
                | (0xE3, (Some(0x83), Some(0xBC))) => Some((false, 3)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The byte length of the joiner ending at `b[..j]`, if one does.
fn joiner_before(b: &[u8], j: usize) -> Option<usize> {
    if j >= 1 && matches!(b[j - 1], b' ' | b'-' | b'.' | b'(' | b')' | b'+') {
        return Some(1);
    }
    if j >= 3 && matches!(cluster_char_at(b, j - 3), Some((false, 3))) {
        return Some(3);
    }
    None
}

/// The first pass: what the shapes need ('@' for email, a postal marker, colons for IPv6),
/// and the *digit clusters*, the maximal runs of digits and joiners, each given to
/// `on_cluster` as it is found. A digit shape's match consists of such characters only, so it
/// lies inside one cluster, and only clusters that [`may_hold_shape`] are given: prices
/// (`12,800`), dates in Japanese (`2024年5月1日`), times (`12:30`) and short numbers cost
/// nothing further. The walk skips to the next digit, '@', ':' or full-width form with a
/// tight loop, and only looks at characters around digits.
fn survey(text: &str, mut on_cluster: impl FnMut(usize, usize)) -> Survey {
    let b = text.as_bytes();
    let n = b.len();
    let mut sv = Survey::default();
    let mut i = 0;
    loop {
        while i < n && !STOP[b[i] as usize] {
            i += 1;
        }
        if i >= n {
            break;
        }
        match b[i] {
            b'@' => {
                sv.at_sign = true;
                i += 1;
            }
            b':' => {
                sv.colons += 1;
                sv.double_colon |= i > 0 && b[i - 1] == b':';
                i += 1;
            }
            0xEF if !fullwidth_digit_at(b, i) => i += 3,
            _ => {
                // A digit: the cluster around it. Back over the joiners before it (a '(' or
                // '+' may start a shape; the previous cluster, if any, ended before them).
                sv.any_digit = true;
                let mut start = i;
                while let Some(len) = joiner_before(b, start) {
                    start -= len;
                }
                let (mut digits, mut dots) = (0, 0);
                while i < n {
                    match cluster_char_at(b, i) {
                        Some((is_digit, len)) => {
                            digits += usize::from(is_digit);
                            dots += usize::from(b[i] == b'.');
                            i += len;
                        }
                        None => break,
                    }
                }
                if may_hold_shape(digits, dots) {
                    on_cluster(start, i);
                }
            }
        }
    }
    if sv.any_digit {
        // '〒' or the first character of '郵便番号' (the shape checks the rest).
        sv.postal_marker = text.contains('\u{3012}') || text.contains('\u{90F5}');
    }
    sv
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('\u{FF10}'..='\u{FF19}').contains(&c)
}

fn digit_value(c: char) -> Option<u32> {
    if c.is_ascii_digit() {
        Some(c as u32 - '0' as u32)
    } else if ('\u{FF10}'..='\u{FF19}').contains(&c) {
        Some(c as u32 - 0xFF10)
    } else {
        None
    }
}

fn is_hyphen(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{FF0D}' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}'
    )
}

fn prev_char(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

fn next_char(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// A digit group continues to the left of `i`: a digit, or a hyphen / '.' after a digit.
fn left_blocked(text: &str, i: usize) -> bool {
    let mut it = text[..i].chars().rev();
    match it.next() {
        Some(c) if is_digit(c) => true,
        Some(c) if is_hyphen(c) || c == '.' => it.next().is_some_and(is_digit),
        _ => false,
    }
}

/// A digit group continues to the right of `i`: a digit, or a hyphen / '.' before a digit.
fn right_blocked(text: &str, i: usize) -> bool {
    let mut it = text[i..].chars();
    match it.next() {
        Some(c) if is_digit(c) => true,
        Some(c) if is_hyphen(c) || c == '.' => it.next().is_some_and(is_digit),
        _ => false,
    }
}

/// Phones may also not touch an ASCII letter.
fn phone_context_ok(text: &str, s: usize, e: usize) -> bool {
    !left_blocked(text, s)
        && !right_blocked(text, e)
        && !prev_char(text, s).is_some_and(|c| c.is_ascii_alphabetic())
        && !next_char(text, e).is_some_and(|c| c.is_ascii_alphabetic())
}

fn count_digits(s: &str) -> usize {
    s.chars().filter(|&c| is_digit(c)).count()
}

/// The digit groups of `s`: for each, the byte offset (relative to `s`) just after it and the
/// number of digits up to there.
fn group_ends(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut digits = 0;
    let mut iter = s.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some((i, c)) = iter.next() {
            if is_digit(c) {
                digits += 1;
                if !iter.peek().is_some_and(|&(_, n)| is_digit(n)) {
                    return Some((i + c.len_utf8(), digits));
                }
            }
        }
        None
    })
}

/// Japanese domestic and North American numbers: the shape fixes the groups; count and context.
fn check_phone(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let n = count_digits(&text[s..e]);
    if (10..=11).contains(&n) && phone_context_ok(text, s, e) {
        out.push(span(s, e, Cat::Phone));
    }
}

fn check_intl(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    if left_blocked(text, s) || prev_char(text, s).is_some_and(|c| c.is_ascii_alphabetic()) {
        return;
    }
    let (mut groups, mut first_digits, mut best) = (0, 0, None);
    // The longest prefix ending after a group with 7-15 digits and a valid end wins.
    for (end, digits) in group_ends(&text[s..e]) {
        groups += 1;
        if groups == 1 {
            first_digits = digits;
        }
        let end = s + end;
        if (7..=15).contains(&digits)
            && phone_context_ok(text, s, end)
            && !time_or_date_follows(text, end)
        {
            best = Some(end);
        }
    }
    let country_code_ok = if groups > 1 {
        first_digits <= 3
    } else {
        first_digits >= MIN_INTL_CONTIGUOUS
    };
    if let (true, Some(end)) = (country_code_ok, best) {
        out.push(span(s, end, Cat::Phone));
    }
}

/// ':' or '/' and a digit: the group before is the start of a time or a date
/// (`+81 90 1234 5678 10:00` ends before ` 10`).
fn time_or_date_follows(text: &str, i: usize) -> bool {
    let mut it = text[i..].chars();
    matches!(it.next(), Some(':' | '/' | '\u{FF1A}' | '\u{FF0F}'))
        && it.next().is_some_and(is_digit)
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Most digits in a card shape (4 + 4 groups of 6).
const CARD_SHAPE_MAX_DIGITS: usize = 28;

fn check_card(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    if left_blocked(text, s) {
        return;
    }
    let m = &text[s..e];
    let mut digits = [0u32; CARD_SHAPE_MAX_DIGITS];
    for (d, v) in digits.iter_mut().zip(m.chars().filter_map(digit_value)) {
        *d = v;
    }
    // The longest prefix ending after a group, with 13-19 digits, a valid end and a valid
    // Luhn sum wins ("4111 1111 1111 1111 123": the card, then its security code).
    let (mut card_shaped, mut best) = (false, None);
    for (end, n) in group_ends(m) {
        if (13..=19).contains(&n) && !right_blocked(text, s + end) {
            card_shaped = true;
            if luhn(&digits[..n]) {
                best = Some(s + end);
            }
        }
    }
    match best {
        Some(end) => out.push(span(s, end, Cat::Card)),
        None if card_shaped => out.push(Span {
            start: s,
            end: e,
            kind: Kind::Veto,
        }),
        None => {}
    }
}

/// The check digit of an Individual Number from its first 11 digits (spec formula).
fn my_number_check_digit(first11: &[u32]) -> u32 {
    let sum: u32 = (1..=11u32)
        .map(|n| {
            let p = first11[11 - n as usize];
            let q = if n <= 6 { n + 1 } else { n - 5 };
            p * q
        })
        .sum();
    let r = sum % 11;
    if r <= 1 {
        0
    } else {
        11 - r
    }
}

fn check_my_number(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    if left_blocked(text, s) || right_blocked(text, e) {
        return;
    }
    let mut digits = [0u32; 12];
    let mut n = 0;
    for v in text[s..e].chars().filter_map(digit_value) {
        if n == 12 {
            return;
        }
        digits[n] = v;
        n += 1;
    }
    if n == 12 && my_number_check_digit(&digits[..11]) == digits[11] {
        out.push(span(s, e, Cat::MyNumber));
    }
}

fn check_ipv4(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let before_ok =
        !prev_char(text, s).is_some_and(|c| c.is_ascii_alphanumeric() || is_digit(c) || c == '.');
    let mut after = text[e..].chars();
    let after_ok = match after.next() {
        Some(c) if is_digit(c) => false,
        Some('.') => !after.next().is_some_and(is_digit),
        _ => true,
    };
    if before_ok && after_ok {
        out.push(span(s, e, Cat::Ip));
    }
}

/// The IPv6 address in a maximal run `text[s..e]` of hex digits, ':' and '.', if any.
fn ipv6_in_run(text: &str, mut s: usize, e0: usize) -> Option<(usize, usize)> {
    if next_char(text, e0).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let b = text.as_bytes();
    let mut e = e0;
    while e > s && b[e - 1] == b'.' {
        e -= 1;
    }
    // A single trailing ':' ends a sentence or a label ("fe80::1: refused"), '::' does not.
    if e > s && b[e - 1] == b':' && (e < s + 2 || b[e - 2] != b':') {
        e -= 1;
    }
    if prev_char(text, s).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
        // Glued to a word (`IPv6:fe80::1`): the address starts after the first single ':'.
        let colon = s + text[s..e].find(':')?;
        if b.get(colon + 1) == Some(&b':') {
            return None;
        }
        s = colon + 1;
    } else if b.get(s) == Some(&b':') && b.get(s + 1) != Some(&b':') {
        s += 1;
    }
    (s < e && valid_ipv6(&text[s..e])).then_some((s, e))
}

fn valid_ipv4(s: &str) -> bool {
    let mut n = 0;
    for part in s.split('.') {
        n += 1;
        let ok = !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
            && part.parse::<u32>().is_ok_and(|v| v <= 255);
        if !ok || n > 4 {
            return false;
        }
    }
    n == 4
}

/// Groups in one side of an IPv6 address (`None` if malformed); an IPv4 tail counts two.
fn ipv6_groups(part: &str, v4_tail_allowed: bool) -> Option<usize> {
    if part.is_empty() {
        return Some(0);
    }
    let mut count = 0;
    let mut groups = part.split(':').peekable();
    while let Some(g) = groups.next() {
        let last = groups.peek().is_none();
        if last && v4_tail_allowed && g.contains('.') {
            if !valid_ipv4(g) {
                return None;
            }
            count += 2;
        } else if (1..=4).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_hexdigit()) {
            count += 1;
        } else {
            return None;
        }
    }
    Some(count)
}

fn valid_ipv6(s: &str) -> bool {
    if !s.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    match s.find("::") {
        Some(i) => {
            let (head, tail) = (&s[..i], &s[i + 2..]);
            if tail.contains("::") {
                return false;
            }
            // An IPv4 tail can only end the address ("1.2.3.4::" is not one).
            let (Some(h), Some(t)) = (ipv6_groups(head, false), ipv6_groups(tail, true)) else {
                return false;
            };
            (1..=7).contains(&(h + t))
        }
        None => ipv6_groups(s, true) == Some(8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::OnceLock;

    fn det() -> &'static Detector {
        static D: OnceLock<Detector> = OnceLock::new();
        D.get_or_init(Detector::builtin)
    }

    /// (category, matched substring) of every finding.
    fn found_with(d: &Detector, text: &str, cats: Option<&[&str]>) -> Vec<(String, String)> {
        let chars: Vec<char> = text.chars().collect();
        d.detect(text, cats)
            .iter()
            .map(|f| {
                (
                    f.category.to_string(),
                    chars[f.start..f.end].iter().collect(),
                )
            })
            .collect()
    }

    fn found(text: &str) -> Vec<(String, String)> {
        found_with(det(), text, None)
    }

    /// `text` holds exactly one finding, of `cat`, matching `pii`.
    fn assert_one(text: &str, cat: &str, pii: &str) {
        assert_eq!(
            found(text),
            vec![(cat.to_string(), pii.to_string())],
            "in {text:?}"
        );
        check_invariants(det(), text);
    }

    fn assert_none(text: &str) {
        assert_eq!(found(text), vec![], "in {text:?}");
        assert!(matches!(det().redact(text, None), Cow::Borrowed(_)));
    }

    /// The properties every answer has: sorted, non-overlapping, in range; redact equals the
    /// text rebuilt from the findings (so everything outside them is byte-identical), and is
    /// borrowed when nothing is found; filtering only removes findings.
    fn check_invariants(d: &Detector, text: &str) {
        let findings = check_findings_and_redact(d, text);
        for cat in BUILTIN_CATEGORIES {
            let only = d.detect(text, Some(&[cat]));
            let expect: Vec<_> = findings
                .iter()
                .filter(|f| f.category == cat)
                .copied()
                .collect();
            assert_eq!(only, expect, "filter {cat} on {text:?}");
        }
    }

    fn check_findings_and_redact<'d>(d: &'d Detector, text: &str) -> Vec<Finding<'d>> {
        let findings = d.detect(text, None);
        let n = text.chars().count();
        let mut last = 0;
        for f in &findings {
            assert!(
                f.start < f.end && f.end <= n,
                "{f:?} out of range in {text:?}"
            );
            assert!(
                f.start >= last,
                "overlap or disorder in {text:?}: {findings:?}"
            );
            last = f.end;
        }
        let chars: Vec<char> = text.chars().collect();
        let mut rebuilt = String::new();
        let mut pos = 0;
        for f in &findings {
            rebuilt.extend(&chars[pos..f.start]);
            rebuilt.push_str(d.label(f.category).expect("label of a found category"));
            pos = f.end;
        }
        rebuilt.extend(&chars[pos..]);
        let red = d.redact(text, None);
        assert_eq!(red, rebuilt, "redact of {text:?}");
        if findings.is_empty() {
            assert!(matches!(red, Cow::Borrowed(_)));
            assert_eq!(red, text);
        }
        findings
    }

    // ---- email ----

    #[test]
    fn email_english_and_japanese() {
        assert_one(
            "Please reply to alice.smith+tag@example.co.jp today.",
            "email",
            "alice.smith+tag@example.co.jp",
        );
        assert_one(
            "メールはyamada_taro@example.comです。",
            "email",
            "yamada_taro@example.com",
        );
        assert_one(
            "連絡先：support-team@mail.example-shop.jp まで",
            "email",
            "support-team@mail.example-shop.jp",
        );
        assert_one("(bob%x@ex.io)", "email", "bob%x@ex.io");
    }

    #[test]
    fn email_shape_rules() {
        // No dot at the ends of the local part; an alphabetic TLD of two letters or more.
        assert_one("..a.b@c.org", "email", "a.b@c.org");
        assert_none("a.@c.org");
        assert_none("user@localhost");
        assert_none("user@example.c");
        assert_one("user@host.com1", "email", "user@host.com");
        assert_none("ｕｓｅｒ＠ｅｘａｍｐｌｅ．ｃｏｍ");
        assert_none("@example.com and user@");
        assert_one("end: x@y.com.", "email", "x@y.com");
    }

    // ---- phone ----

    #[test]
    fn phone_japanese_domestic() {
        for p in [
            "090-1234-5678",
            "０９０－１２３４－５６７８",
            "03-1234-5678",
            "0120-123-456",
            "06-6123-4567",
            "03(1234)5678",
            "09012345678",
            "0312345678",
            "090 1234 5678",
            "(03)1234-5678",
            "０９０ー１２３４ー５６７８",
            "03−1234−5678",
            "（０３）１２３４－５６７８",
        ] {
            assert_one(&format!("お電話は{p}までお願いします。"), "phone", p);
            assert_one(&format!("Call {p} please"), "phone", p);
        }
    }

    #[test]
    fn phone_international_and_north_american() {
        for p in [
            "+81 90 1234 5678",
            "+1 (212) 555-0143",
            "+44 20 7946 0123",
            "+81-3-1234-5678",
            "＋８１ ９０ １２３４ ５６７８",
            "+819012345678",
            "+44 (0)20 7946 0123",
            "+1.212.555.0143",
            "(212) 555-0143",
            "212-555-0143",
            "212.555.0143",
            "1-800-555-0199",
        ] {
            assert_one(&format!("Call {p} now."), "phone", p);
            assert_one(&format!("電話番号は{p}です"), "phone", p);
        }
    }

    #[test]
    fn phone_negatives() {
        for t in [
            "090-1234-56789",
            "0901-234-567890",
            "order 0312345",
            "1234-5678",
            "TEL090-1234-5678",
            "090-1234-5678x",
            "5090-1234-5678",
            "090-1234-5678-9",
            "+1234567",
            "+1 23",
            "+8190 1234 5678",
            "2024-05-01",
            "1990-2000",
        ] {
            let f = found(t);
            assert!(f.iter().all(|(c, _)| c != "phone"), "{t:?}: {f:?}");
        }
    }

    #[test]
    fn phone_boundaries() {
        // A time or a date after an international number is not one of its groups.
        assert_one("+81 90 1234 5678 10:00", "phone", "+81 90 1234 5678");
        assert_one("+81 3 1234 5678 2024/05/01", "phone", "+81 3 1234 5678");
        // A single space does not join groups: too many digits drop trailing groups.
        assert_one(
            "+81 90 1234 5678 1234 5678 1234",
            "phone",
            "+81 90 1234 5678",
        );
        assert_one("4111111111111111 9", "card", "4111111111111111");
        // Japanese text around is not an ASCII letter.
        assert_one("携帯090-1234-5678へ", "phone", "090-1234-5678");
        assert_eq!(
            found("090-1234-5678 090-8765-4321"),
            vec![
                ("phone".into(), "090-1234-5678".into()),
                ("phone".into(), "090-8765-4321".into())
            ]
        );
    }

    // ---- card ----

    #[test]
    fn card_positive() {
        for c in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111111111111111",
            "5555555555554444",
            "3782 822463 10005",
            "378282246310005",
            "3056 930902 5904",
            "4222222222222",
            "６０１１　１１１１　１１１１　１１１７",
            "６０１１１１１１１１１１１１１７",
            "6011－0009－9013－9424",
        ] {
            assert_one(&format!("カード番号：{c}で支払いました"), "card", c);
            assert_one(&format!("my card is {c}, thanks"), "card", c);
        }
    }

    #[test]
    fn card_negative() {
        for t in [
            "1234567890123456",
            "4111 1111 1111 1112",
            "4111-1111-1111-1112",
            "41111111111111111111",
            "94111111111111111",
        ] {
            let f = found(t);
            assert!(f.iter().all(|(c, _)| c != "card"), "{t:?}: {f:?}");
        }
        // 16 digits failing Luhn are nothing else either, although the first 12 digits
        // (1234 5678 9018) have a valid Individual Number check digit.
        assert_none("1234 5678 9018 1111");
        assert_none("1234-5678-9018-1111");
        assert_none("1234567890181111");
    }

    #[test]
    fn card_followed_by_code_or_expiry() {
        assert_one("4111 1111 1111 1111 123", "card", "4111 1111 1111 1111");
        assert_one("4111 1111 1111 1111 12/25", "card", "4111 1111 1111 1111");
        assert_one(
            "4111-1111-1111-1111 exp 12/25",
            "card",
            "4111-1111-1111-1111",
        );
    }

    // ---- my_number ----

    #[test]
    fn my_number_check_digit_formula() {
        let d = |s: &str| -> Vec<u32> { s.bytes().map(|b| u32::from(b - b'0')).collect() };
        assert_eq!(my_number_check_digit(&d("12345678901")), 8);
        assert_eq!(my_number_check_digit(&d("98765432109")), 3);
        assert_eq!(my_number_check_digit(&d("00000000000")), 0);
        assert_eq!(my_number_check_digit(&d("31415926535")), 2);
    }

    #[test]
    fn my_number_positive_and_negative() {
        for m in [
            "123456789018",
            "1234 5678 9018",
            "1234-5678-9018",
            "９８７６５４３２１０９３",
            "９８７６－５４３２－１０９３",
            "3141　5926　5352",
        ] {
            assert_one(&format!("マイナンバーは{m}です"), "my_number", m);
            assert_one(&format!("My Number: {m}."), "my_number", m);
        }
        for t in [
            "123456789012",
            "1234-5678-9012",
            "1234 5678 9012",
            "1123456789018",
            "1234567890181",
            "1234-5678-9018-7",
        ] {
            assert_none(t);
        }
    }

    // ---- postal_code ----

    #[test]
    fn postal_code() {
        assert_one("〒100-0001 東京都千代田区", "postal_code", "100-0001");
        assert_one("〒 150-0002", "postal_code", "150-0002");
        assert_one("〒　150-0002", "postal_code", "150-0002");
        assert_one("郵便番号：123-4567", "postal_code", "123-4567");
        assert_one("郵便番号: 123-4567", "postal_code", "123-4567");
        assert_one("郵便番号 1234567", "postal_code", "1234567");
        assert_one("〒１００－０００１", "postal_code", "１００－０００１");
        assert_one("〒100ー0001", "postal_code", "100ー0001");
        assert_eq!(
            det().redact("〒100-0001 東京都", None),
            "〒[POSTAL_CODE] 東京都"
        );
        for t in [
            "123-4567",
            "郵便番号は123-4567",
            "〒100-00012",
            "〒100-0001-5",
            "〒12-34567",
        ] {
            assert_none(t);
        }
    }

    // ---- ip ----

    #[test]
    fn ipv4() {
        for ip in [
            "192.168.1.1",
            "10.0.0.255",
            "0.0.0.0",
            "255.255.255.255",
            "8.8.8.8",
        ] {
            assert_one(&format!("接続元IPは{ip}です"), "ip", ip);
            assert_one(&format!("from {ip}:8080."), "ip", ip);
        }
        for t in [
            "256.1.1.1",
            "1.2.3",
            "10.0.19045.3930",
            "v2.10.3.4",
            "version2.10.3.4",
            "192.168.01.1",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "11.2.3.4.",
        ] {
            let f = found(t);
            assert!(
                f.iter().all(|(c, _)| c != "ip") || t == "11.2.3.4.",
                "{t:?}: {f:?}"
            );
        }
        assert_one("host 11.2.3.4.", "ip", "11.2.3.4");
    }

    #[test]
    fn ipv6() {
        for ip in [
            "2001:db8::1",
            "fe80::1ff:fe23:4567:890a",
            "::1",
            "::ffff:192.168.1.1",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "2001:DB8::",
            "1:2:3:4:5:6:7:8",
        ] {
            assert_one(&format!("アドレス{ip}から"), "ip", ip);
            assert_one(&format!("from {ip}. Then"), "ip", ip);
            assert_one(&format!("[{ip}]:443"), "ip", ip);
        }
        assert_one("IPv6:fe80::1", "ip", "fe80::1");
        assert_one("fe80::1: connection refused", "ip", "fe80::1");
        for t in [
            "12:30:45",
            "12:30",
            "00:1A:2B:3C:4D:5E",
            "Base::Add",
            "cafe::beef",
            "std::vec::Vec",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "12345::1",
            "::",
            "fe80::1g",
        ] {
            assert_none(t);
        }
    }

    // ---- hard negatives of the spec ----

    #[test]
    fn hard_negatives() {
        for t in [
            "注文番号12345678の件です",
            "order #12345678 shipped",
            "2024/05/01に発送",
            "on 2024-05-01",
            "令和6年5月1日",
            "2024年5月1日",
            "¥12,800",
            "12,800円",
            "$1,299.00",
            "12:30:45",
            "３個、2 pcs, 100 units",
            "v1.2.3 and version 10.0.19045.3930",
            "1234567890123456",
            "123456789012",
            "tracking 1234-5678-9012",
            "256.1.1.1",
            "Windows 10.0.19045.3930",
        ] {
            assert_none(t);
        }
    }

    // ---- overlaps, filter, offsets, custom ----

    #[test]
    fn overlaps_leftmost_then_longest() {
        // An email whose local part is a valid card number: the email starts at the same
        // place and is longer.
        assert_one(
            "4111111111111111@example.com",
            "email",
            "4111111111111111@example.com",
        );
        // An international number starts before the card shape inside it.
        assert_one("+4111111111111", "phone", "+4111111111111");
        // An IPv4-mapped IPv6 address starts before its IPv4 tail.
        assert_one("::ffff:10.1.2.3", "ip", "::ffff:10.1.2.3");
        let d = Detector::with_custom(&[CustomPattern {
            name: "acct".into(),
            category: "account".into(),
            pattern: r"[0-9]{4} [0-9]{4}".into(),
        }])
        .unwrap();
        // Same start: the longest wins (the card); a custom match after it is kept.
        assert_eq!(
            found_with(&d, "4111 1111 1111 1111 / 1234 5678", None),
            vec![
                ("card".into(), "4111 1111 1111 1111".into()),
                ("account".into(), "1234 5678".into())
            ]
        );
        check_invariants(&d, "4111 1111 1111 1111 / 1234 5678");
    }

    #[test]
    fn filter_reports_only_the_named_categories() {
        let text = "a@b.co 090-1234-5678 4111111111111111";
        let d = det();
        assert_eq!(
            found_with(d, text, Some(&["phone"])),
            vec![("phone".into(), "090-1234-5678".into())]
        );
        assert_eq!(found_with(d, text, Some(&["nope"])), vec![]);
        assert_eq!(
            d.redact(text, Some(&["email", "card"])),
            "[EMAIL] 090-1234-5678 [CARD]"
        );
        assert_eq!(d.redact(text, Some(&[])), text);
        // A card stays a card even when only my_number is asked for.
        assert_eq!(
            found_with(d, "4111 1111 1111 1111", Some(&["my_number"])),
            vec![]
        );
    }

    #[test]
    fn character_offsets() {
        let text = "電話：090-1234-5678（携帯）、メール a@b.jp";
        let f = det().detect(text, None);
        assert_eq!(
            f,
            vec![
                Finding {
                    category: "phone",
                    start: 3,
                    end: 16
                },
                Finding {
                    category: "email",
                    start: 25,
                    end: 31
                },
            ]
        );
        assert_eq!(
            det().redact(text, None),
            "電話：[PHONE]（携帯）、メール [EMAIL]"
        );
        let f = det().detect("😀〒１００－０００１", None);
        assert_eq!(
            f,
            vec![Finding {
                category: "postal_code",
                start: 2,
                end: 10
            }]
        );
    }

    #[test]
    fn detector_is_shareable() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Detector>();
    }

    #[test]
    fn redact_borrows_clean_text() {
        for t in [
            "",
            "ありがとうございます。",
            "Thanks! Order 12345678 arrived on 2024-05-01.",
        ] {
            assert!(matches!(det().redact(t, None), Cow::Borrowed(s) if s == t));
        }
    }

    #[test]
    fn custom_patterns() {
        let d = Detector::with_custom(&[
            CustomPattern {
                name: "employee".into(),
                category: "employee_id".into(),
                pattern: r"EMP-[0-9]{6}".into(),
            },
            CustomPattern {
                name: "member".into(),
                category: "会員番号".into(),
                pattern: r"会員番号[0-9]{8}".into(),
            },
        ])
        .unwrap();
        let text = "EMP-123456 の会員番号12345678 (mail x@y.jp)";
        assert_eq!(
            d.redact(text, None),
            "[EMPLOYEE_ID] の[会員番号] (mail [EMAIL])"
        );
        assert_eq!(
            found_with(&d, text, Some(&["employee_id"])),
            vec![("employee_id".into(), "EMP-123456".into())]
        );
        assert_eq!(d.label("employee_id"), Some("[EMPLOYEE_ID]"));
        check_invariants(&d, text);
        // Custom patterns are not vetoed by failed card shapes.
        let d = Detector::with_custom(&[CustomPattern {
            name: "ref".into(),
            category: "ref".into(),
            pattern: r"[0-9]{16}".into(),
        }])
        .unwrap();
        assert_eq!(d.redact("1234567890123456", None), "[REF]");
    }

    #[test]
    fn custom_pattern_refusals() {
        assert!(matches!(
            validate_pattern("("),
            Err(PatternError::Invalid(_))
        ));
        assert!(matches!(
            validate_pattern("(?<=a)b"),
            Err(PatternError::Invalid(_))
        ));
        assert!(matches!(
            validate_pattern(r"(?:\w{100}){100}"),
            Err(PatternError::TooLarge(_))
        ));
        assert!(matches!(
            validate_pattern(&"a".repeat(CUSTOM_PATTERN_MAX_LEN + 1)),
            Err(PatternError::TooLarge(_))
        ));
        for p in ["", "a*", "x?", "a|", r"\b", "(?m)^", "$", r"\B"] {
            assert_eq!(
                validate_pattern(p),
                Err(PatternError::MatchesEmpty),
                "{p:?}"
            );
        }
        assert_eq!(validate_pattern(r"EMP-[0-9]{6}"), Ok(()));
        let err = Detector::with_custom(&[CustomPattern {
            name: "bad".into(),
            category: "x".into(),
            pattern: "a{".into(),
        }])
        .err()
        .unwrap();
        assert!(err
            .to_string()
            .starts_with("pattern \"bad\": invalid regular expression"));
        let err = Detector::with_custom(&[CustomPattern {
            name: "nocat".into(),
            category: String::new(),
            pattern: "x".into(),
        }])
        .err()
        .unwrap();
        let PatternError::InPattern { name, error } = err else {
            panic!("not named: {err:?}");
        };
        assert_eq!(
            (name.as_str(), *error),
            ("nocat", PatternError::EmptyCategory)
        );
    }

    #[test]
    fn long_and_hostile_inputs() {
        let d = det();
        for t in [
            "1".repeat(200_000),
            "4111 ".repeat(50_000),
            "1.".repeat(100_000),
            ":".repeat(100_000),
            "a".repeat(100_000) + "@",
            "+1 ".repeat(50_000),
            "０".repeat(50_000),
            "〒".repeat(50_000) + "123-4567",
            "fe80::".repeat(30_000),
        ] {
            let start = std::time::Instant::now();
            check_findings_and_redact(d, &t);
            assert!(start.elapsed().as_secs() < 10, "slow on {:?}...", &t[..20]);
        }
        assert_eq!(
            d.detect(&("x".repeat(100_000) + " 090-1234-5678"), None),
            vec![Finding {
                category: "phone",
                start: 100_001,
                end: 100_014
            }]
        );
    }

    // ---- properties ----

    /// The same analysis without the first pass: every shape over the whole text, digit shapes
    /// tried at every character boundary not preceded by a digit.
    fn reference_spans(d: &Detector, text: &str) -> Vec<Span> {
        let mut cands = Vec::new();
        for shape in [Shape::Email, Shape::Postal, Shape::Ipv6] {
            d.scan_shape(shape, text, &mut cands);
        }
        for (s, _) in text.char_indices() {
            if prev_char(text, s).is_some_and(is_digit) {
                continue;
            }
            for &shape in &DIGIT_SHAPES {
                if let Some(m) = d.shapes[shape as usize].find(&text[s..]) {
                    let e = s + m.end();
                    match shape {
                        Shape::PhoneJp | Shape::PhoneNa => check_phone(text, s, e, &mut cands),
                        Shape::PhoneIntl => check_intl(text, s, e, &mut cands),
                        Shape::Card => check_card(text, s, e, &mut cands),
                        Shape::MyNumber => check_my_number(text, s, e, &mut cands),
                        Shape::Ipv4 => check_ipv4(text, s, e, &mut cands),
                        _ => {}
                    }
                }
            }
        }
        resolve(cands)
    }

    #[test]
    fn first_pass_loses_nothing_on_examples() {
        let data = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/corpus/pii_corpus.jsonl"
        ))
        .unwrap_or_default();
        for line in data.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                let text = v["text"].as_str().unwrap_or_default();
                assert_eq!(
                    det().find_spans(text, None),
                    reference_spans(det(), text),
                    "{text:?}"
                );
            }
        }
    }

    /// Fragments that make PII-like text likely.
    fn piiish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => "[0-9]{1,5}",
            2 => "[０-９]{1,4}",
            3 => prop::sample::select(vec![
                "-", "－", "ー", "‐", " ", "　", ".", ":", "::", "@", "+", "＋", "(", ")", "（",
                "）", "/", "〒", "郵便番号", "：", "v", "a", "f", "x", "_", "あ", "😀", "\u{301}",
            ])
            .prop_map(str::to_string),
            1 => prop::sample::select(vec![
                "090-1234-5678", "4111 1111 1111 1111", "123456789018", "a.b@c.jp",
                "192.168.1.1", "2001:db8::1", "〒100-0001", "+81 90 1234 5678",
            ])
            .prop_map(str::to_string),
            1 => "\\PC{0,3}",
        ];
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_strings_keep_the_invariants(s in "\\PC*") {
            check_invariants(det(), &s);
        }

        #[test]
        fn any_unicode_keeps_the_invariants(s in any::<String>()) {
            check_invariants(det(), &s);
        }

        #[test]
        fn piiish_strings_keep_the_invariants(s in piiish()) {
            check_invariants(det(), &s);
        }

        #[test]
        fn first_pass_loses_nothing(s in piiish()) {
            prop_assert_eq!(det().find_spans(&s, None), reference_spans(det(), &s));
        }

        #[test]
        fn first_pass_loses_nothing_on_any_text(s in "\\PC{0,64}") {
            prop_assert_eq!(det().find_spans(&s, None), reference_spans(det(), &s));
        }

        #[test]
        fn surrounding_text_is_untouched(a in "\\PC{0,12}", b in "\\PC{0,12}") {
            // A card between arbitrary texts: found, and the texts around it stay
            // byte-identical unless they hold PII of their own.
            let text = format!("{a}。カード 4111 1111 1111 1111 です。{b}");
            let chars: Vec<char> = text.chars().collect();
            let cards: Vec<String> = det()
                .detect(&text, None)
                .iter()
                .filter(|f| f.category == "card")
                .map(|f| chars[f.start..f.end].iter().collect())
                .collect();
            prop_assert!(cards.contains(&"4111 1111 1111 1111".to_string()));
            let red = det().redact(&text, None);
            prop_assert!(red.contains("。カード [CARD] です。"));
            prop_assert!(red.starts_with(&a) || !det().detect(&a, None).is_empty());
            prop_assert!(red.ends_with(&b) || !det().detect(&b, None).is_empty());
            check_invariants(det(), &text);
        }
    }

    // ---- labelled corpus ----

    #[derive(Default)]
    struct Tally {
        tp: usize,
        fp: usize,
        fn_: usize,
    }

    #[test]
    fn corpus_precision_and_recall() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/corpus/pii_corpus.jsonl"
        );
        let data = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read the labelled corpus {path}: {e}"));
        let d = det();
        let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
        let mut lines = 0;
        let mut clean_changed = Vec::new();
        let mut misses = Vec::new();
        for (no, line) in data.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            lines += 1;
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("corpus line {}: {e}", no + 1));
            let text = v["text"].as_str().expect("text");
            let mut expected: Vec<(String, String)> = v["pii"]
                .as_array()
                .expect("pii")
                .iter()
                .map(|p| {
                    (
                        p["category"].as_str().expect("category").to_string(),
                        p["text"].as_str().expect("pii text").to_string(),
                    )
                })
                .collect();
            let got = found(text);
            check_invariants(d, text);
            if expected.is_empty() && d.redact(text, None) != text {
                clean_changed.push(no + 1);
            }
            for cat in BUILTIN_CATEGORIES {
                tally.entry(cat.to_string()).or_default();
            }
            let mut line_ok = true;
            for g in &got {
                let t = tally.entry(g.0.clone()).or_default();
                if let Some(i) = expected.iter().position(|e| e == g) {
                    expected.swap_remove(i);
                    t.tp += 1;
                } else {
                    t.fp += 1;
                    line_ok = false;
                }
            }
            for e in &expected {
                tally.entry(e.0.clone()).or_default().fn_ += 1;
                line_ok = false;
            }
            if !line_ok {
                misses.push(format!(
                    "line {}: {text:?}\n    missed {expected:?}\n    found  {got:?}",
                    no + 1
                ));
            }
        }
        println!("corpus: {lines} lines, {} with a mistake", misses.len());
        for m in &misses {
            println!("{m}");
        }
        println!(
            "{:<12} {:>9} {:>9} {:>8}",
            "category", "precision", "recall", "support"
        );
        let mut failed = Vec::new();
        for (cat, t) in &tally {
            let precision = if t.tp + t.fp == 0 {
                1.0
            } else {
                t.tp as f64 / (t.tp + t.fp) as f64
            };
            let recall = if t.tp + t.fn_ == 0 {
                1.0
            } else {
                t.tp as f64 / (t.tp + t.fn_) as f64
            };
            println!(
                "{cat:<12} {precision:>9.4} {recall:>9.4} {:>8}",
                t.tp + t.fn_
            );
            if precision < 0.98 || recall < 0.98 {
                failed.push(cat.clone());
            }
        }
        assert!(
            clean_changed.is_empty(),
            "redact changed PII-free lines {clean_changed:?}"
        );
        assert!(failed.is_empty(), "below 0.98: {failed:?}");
    }
}
