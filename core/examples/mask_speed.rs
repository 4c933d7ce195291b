//! Per-value cost of the text masks, without PostgreSQL: typical e-mail addresses, card
//! numbers and Japanese names, one million of each by default. Run with
//! `cargo run --release -p pg_privacy_core --example mask_speed [iterations]`.

use std::hint::black_box;
use std::time::Instant;

use pg_privacy_core::mask::{
    mask_card, mask_email, mask_name, mask_partial, mask_phone, pseudonym, PseudonymKey,
};

/// Distinct values cycled through, so the loop does not hash or mask one hot string.
const DISTINCT: usize = 1024;

fn time(label: &str, iterations: u32, mut f: impl FnMut(usize)) {
    for i in 0..(iterations as usize).min(10_000) {
        f(i % DISTINCT);
    }
    let start = Instant::now();
    for i in 0..iterations as usize {
        f(i % DISTINCT);
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!(
        "{label:<44} {ns:>9.1} ns/op {:>12.0} ops/s",
        1e9 / ns.max(f64::MIN_POSITIVE)
    );
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let emails: Vec<String> = (0..DISTINCT)
        .map(|i| format!("customer.{i:05}@example.co.jp"))
        .collect();
    let cards: Vec<String> = (0..DISTINCT)
        .map(|i| format!("4111 1111 {:04} {:04}", i % 10_000, (i * 7) % 10_000))
        .collect();
    let phones: Vec<String> = (0..DISTINCT)
        .map(|i| format!("090-{:04}-{:04}", i % 10_000, (i * 13) % 10_000))
        .collect();
    let names_ja: Vec<String> = (0..DISTINCT)
        .map(|i| format!("山田{} 太郎", ["", "川", "本"][i % 3]))
        .collect();
    let partial_ja: Vec<String> = (0..DISTINCT)
        .map(|i| format!("東京都千代田区千代田{}-{}", i % 9 + 1, i % 30 + 1))
        .collect();
    let key = [0x42u8; 32];
    let pkey = PseudonymKey::new(&key);

    println!(
        "{iterations} iterations over {DISTINCT} distinct values each; e.g. {:?}, {:?}",
        emails[0], cards[0]
    );
    time("mask_email (28-char address)", iterations, |i| {
        black_box(mask_email(black_box(&emails[i])));
    });
    time(
        "mask_partial (19-char card, keep 0+4, '*')",
        iterations,
        |i| {
            black_box(mask_partial(black_box(&cards[i]), 0, 4, "*").unwrap());
        },
    );
    time(
        "mask_partial (ASCII email, keep 2+4, '*')",
        iterations,
        |i| {
            black_box(mask_partial(black_box(&emails[i]), 2, 4, "*").unwrap());
        },
    );
    time(
        "mask_partial (13-15-char Japanese, keep 3+0)",
        iterations,
        |i| {
            black_box(mask_partial(black_box(&partial_ja[i]), 3, 0, "＊").unwrap());
        },
    );
    time("mask_phone (090-xxxx-xxxx)", iterations, |i| {
        black_box(mask_phone(black_box(&phones[i])));
    });
    time("mask_card (19-char card)", iterations, |i| {
        black_box(mask_card(black_box(&cards[i])));
    });
    time("mask_name (Japanese, two words)", iterations, |i| {
        black_box(mask_name(black_box(&names_ja[i])));
    });
    time("pseudonym (derives the subkey per call)", iterations, |i| {
        black_box(pseudonym(&key, black_box(&emails[i])));
    });
    time("PseudonymKey::token (subkey cached)", iterations, |i| {
        black_box(pkey.token(black_box(&emails[i])));
    });
}
