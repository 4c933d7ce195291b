//! Feeds arbitrary text (the input as lossy UTF-8) to the PII detector, with and without a
//! custom pattern and a category filter. Nothing may panic, and every answer must keep the
//! invariants: findings in range, sorted and non-overlapping, in character offsets; `redact`
//! equal to the text rebuilt from the findings (so everything outside them is byte-identical),
//! and borrowed when there is nothing to replace; a filter only removes findings.
#![no_main]

use std::borrow::Cow;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pg_privacy_core::redact::{CustomPattern, Detector, Finding, BUILTIN_CATEGORIES};

fn detectors() -> &'static [Detector; 2] {
    static D: OnceLock<[Detector; 2]> = OnceLock::new();
    D.get_or_init(|| {
        let custom = Detector::with_custom(&[CustomPattern {
            name: "ticket".into(),
            category: "ticket".into(),
            pattern: r"(?:INC|REQ)-?[0-9]{4,8}|[0-9]{4} [0-9]{4}".into(),
        }])
        .expect("valid custom pattern");
        [Detector::builtin(), custom]
    })
}

fn check(d: &Detector, text: &str) {
    let findings = d.detect(text, None);
    let chars: Vec<char> = text.chars().collect();
    let mut last = 0;
    for f in &findings {
        assert!(
            f.start < f.end && f.end <= chars.len(),
            "out of range: {f:?}"
        );
        assert!(f.start >= last, "overlapping or unsorted: {findings:?}");
        last = f.end;
    }
    let mut rebuilt = String::with_capacity(text.len());
    let mut pos = 0;
    for f in &findings {
        rebuilt.extend(&chars[pos..f.start]);
        rebuilt.push_str(d.label(f.category).expect("a found category has a label"));
        pos = f.end;
    }
    rebuilt.extend(&chars[pos..]);
    let red = d.redact(text, None);
    assert_eq!(red, rebuilt, "redact differs from the findings");
    if findings.is_empty() {
        assert!(matches!(red, Cow::Borrowed(s) if s == text));
    }
    // The filter picks from the unfiltered answer; try one category chosen by the input.
    let cat = BUILTIN_CATEGORIES[text.len() % BUILTIN_CATEGORIES.len()];
    let only = d.detect(text, Some(&[cat, "ticket"]));
    let expect: Vec<Finding> = findings
        .iter()
        .filter(|f| f.category == cat || f.category == "ticket")
        .copied()
        .collect();
    assert_eq!(only, expect, "filter {cat}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for d in detectors() {
        check(d, &text);
    }
});
