//! Per-value cost floor of the encryption core, without PostgreSQL: what one 160-byte value
//! costs to seal, open, armour and index. Run with
//! `cargo run --release -p pg_privacy_core --example cipher_speed [iterations]`.

use std::hint::black_box;
use std::time::Instant;

use pg_privacy_core::envelope::{decode_armored, encode_armored};
use pg_privacy_core::{
    blind_index, generate_dek, open, seal, seal_into, unwrap_dek, wrap_dek, BlindIndexKey, DataKey,
    RootKey, ValueKind,
};

const VALUE_LEN: usize = 160;

fn time(label: &str, iterations: u32, mut f: impl FnMut(u32)) {
    // Warm up caches and the CPU feature detection before measuring.
    for i in 0..iterations.min(1000) {
        f(i);
    }
    let start = Instant::now();
    for i in 0..iterations {
        f(i);
    }
    let elapsed = start.elapsed();
    let ns = elapsed.as_nanos() as f64 / f64::from(iterations);
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
    let dek = generate_dek();
    let key = DataKey::from_bytes(1, &dek);
    let value: Vec<u8> = (0..VALUE_LEN).map(|i| b'a' + (i % 26) as u8).collect();
    let ctx: &[u8] = b"customer:1234567";
    let sealed = seal(&key, ValueKind::Text, Some(ctx), &value);
    let armored = encode_armored(&sealed);
    let text = std::str::from_utf8(&value).unwrap();

    println!(
        "{VALUE_LEN}-byte values, {iterations} iterations; envelope {} bytes, text form {} chars",
        sealed.len(),
        armored.len()
    );
    time("seal (new Vec per value)", iterations, |_| {
        black_box(seal(&key, ValueKind::Text, Some(ctx), black_box(&value)));
    });
    let mut buf = Vec::with_capacity(sealed.len());
    time("seal_into (reused buffer)", iterations, |_| {
        buf.clear();
        seal_into(
            &key,
            ValueKind::Text,
            Some(ctx),
            black_box(&value),
            &mut buf,
        );
        black_box(&buf);
    });
    time("open", iterations, |_| {
        black_box(open(&key, ValueKind::Text, Some(ctx), black_box(&sealed)).unwrap());
    });
    time("encode_armored", iterations, |_| {
        black_box(encode_armored(black_box(&sealed)));
    });
    time("decode_armored", iterations, |_| {
        black_box(decode_armored(black_box(&armored)).unwrap());
    });
    time(
        "seal + encode_armored (encrypt to text)",
        iterations,
        |_| {
            black_box(encode_armored(&seal(
                &key,
                ValueKind::Text,
                Some(ctx),
                &value,
            )));
        },
    );
    time(
        "decode_armored + open (decrypt from text)",
        iterations,
        |_| {
            let bytes = decode_armored(&armored).unwrap();
            black_box(open(&key, ValueKind::Text, Some(ctx), &bytes).unwrap());
        },
    );
    let bik = BlindIndexKey::new(&dek);
    time("blind index (cached subkey)", iterations, |_| {
        black_box(bik.index(black_box(text)));
    });
    time("blind_index (derives subkey each call)", iterations, |_| {
        black_box(blind_index(&dek, black_box(text)));
    });
    let few = (iterations / 10).max(1);
    time("DataKey::from_bytes (key schedule)", few, |i| {
        black_box(DataKey::from_bytes(i, &dek));
    });
    let root = RootKey::new("bench", [7; 32]).unwrap();
    let wrapped = wrap_dek(&root, 1, "customer_pii", 1, &dek);
    time("unwrap_dek", few, |_| {
        black_box(unwrap_dek(&root, 1, "customer_pii", 1, black_box(&wrapped)).unwrap());
    });
    time("getrandom 12-byte nonce (inside seal)", few, |_| {
        let mut n = [0u8; 12];
        getrandom::fill(&mut n).unwrap();
        black_box(n);
    });
}
