//! `redact` and `detect_pii`: the built-in detectors plus the enabled rows of
//! `privacy.redaction_patterns`, compiled once per backend into one `Detector` and rebuilt when
//! that table changes (a row trigger sends a relcache invalidation, as for the keyring).

use crate::elevated;
use crate::error::{OrRaise, PrivacyError};
use crate::xact;
use pg_privacy_core::redact::{validate_pattern, CustomPattern, Detector};
use pgrx::prelude::*;
use std::rc::Rc;

/// The built-in categories, in the order the docs list them.
pub const BUILTIN: [&str; 6] = ["email", "phone", "card", "my_number", "postal_code", "ip"];

/// The compiled detector and the custom categories it knows.
type Compiled = (Rc<Detector>, Rc<Vec<String>>);

thread_local! {
    static DETECTOR: xact::TableCache<Compiled> = const { xact::TableCache::new() };
}

fn detector() -> Compiled {
    DETECTOR.with(|cache| cache.get(load_detector))
}

fn load_detector() -> (pg_sys::Oid, Compiled) {
    let loaded = elevated::run(|| {
        Spi::connect(|client| {
            let oid = client
                .select("SELECT 'privacy.redaction_patterns'::regclass::oid", Some(1), &[])?
                .first()
                .get_one::<pg_sys::Oid>()?;
            let rows = client.select(
                "SELECT name, category, pattern FROM privacy.redaction_patterns WHERE enabled ORDER BY name",
                None,
                &[],
            )?;
            let mut patterns = Vec::new();
            for row in rows {
                if let (Some(name), Some(category), Some(pattern)) =
                    (row.get::<String>(1)?, row.get::<String>(2)?, row.get::<String>(3)?)
                {
                    patterns.push(CustomPattern { name, category, pattern });
                }
            }
            Ok::<_, pgrx::spi::Error>((oid, patterns))
        })
    })
    .map_err(|e| PrivacyError::Internal { what: format!("could not read privacy.redaction_patterns: {e}") })
    .or_raise();
    let (oid, patterns) = loaded;
    let mut categories: Vec<String> = patterns.iter().map(|p| p.category.clone()).collect();
    categories.sort();
    categories.dedup();
    let detector = Detector::with_custom(&patterns)
        .map_err(|e| {
            PrivacyError::InvalidParameter(format!("a redaction pattern does not compile: {e}"))
        })
        .or_raise();
    (
        oid.unwrap_or(pg_sys::InvalidOid),
        (Rc::new(detector), Rc::new(categories)),
    )
}

/// Checks a category filter: every name must be built in or come from an enabled pattern.
fn category_filter(
    categories: &Option<Vec<Option<String>>>,
    custom: &[String],
) -> Option<Vec<String>> {
    let list = categories.as_ref()?;
    let mut out = Vec::with_capacity(list.len());
    for c in list.iter().flatten() {
        let c = c.to_lowercase();
        if !BUILTIN.contains(&c.as_str()) && !custom.contains(&c) {
            PrivacyError::InvalidParameter(format!(
                "unknown PII category \"{c}\": the built-in ones are {}, plus the categories of privacy.redaction_patterns",
                BUILTIN.join(", ")
            ))
            .raise();
        }
        out.push(c);
    }
    Some(out)
}

#[pg_extern(stable, parallel_restricted)]
fn redact(
    value: Option<&str>,
    categories: default!(Option<Vec<Option<String>>>, "NULL"),
) -> Option<String> {
    let value = value?;
    let (detector, custom) = detector();
    let filter = category_filter(&categories, &custom);
    let names: Option<Vec<&str>> = filter
        .as_ref()
        .map(|f| f.iter().map(String::as_str).collect());
    Some(detector.redact(value, names.as_deref()).into_owned())
}

#[pg_extern(stable, strict, parallel_restricted)]
fn detect_pii(
    value: &str,
) -> TableIterator<
    'static,
    (
        name!(category, String),
        name!(start_pos, i32),
        name!(end_pos, i32),
    ),
> {
    let (detector, _) = detector();
    let rows: Vec<(String, i32, i32)> = detector
        .detect(value, None)
        .into_iter()
        .map(|f| (f.category.to_string(), f.start as i32 + 1, f.end as i32 + 1))
        .collect();
    TableIterator::new(rows)
}

/// Used by the trigger on privacy.redaction_patterns: a pattern that does not compile, is too
/// large, or matches the empty string is refused when it is written, never at query time.
#[pg_extern(immutable, strict, parallel_safe, name = "_check_redaction_pattern")]
fn check_redaction_pattern(pattern: &str) -> bool {
    validate_pattern(pattern)
        .map_err(|e| PrivacyError::InvalidParameter(format!("invalid redaction pattern: {e}")))
        .or_raise();
    true
}
