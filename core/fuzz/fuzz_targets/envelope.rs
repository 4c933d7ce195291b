//! Feeds arbitrary input to everything that reads an encrypted value from outside: the text
//! input function's decoder, the binary envelope parser and `open`. None may panic, and the
//! decoder must accept only canonical text (what it accepts re-encodes to the same string).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pg_privacy_core::envelope::{decode_armored, encode_armored, Envelope};
use pg_privacy_core::{open, seal, DataKey, ValueKind};

const TEST_KEY: [u8; 32] = [0x5a; 32];

fn check_text(text: &str) {
    if let Ok(bytes) = decode_armored(text) {
        assert_eq!(
            encode_armored(&bytes),
            text,
            "accepted a non-canonical spelling"
        );
        Envelope::parse(&bytes).expect("decode_armored accepted a malformed envelope");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_text(&text);
    // Most random strings stop at the prefix; also try them as the body.
    check_text(&format!("enc1:{text}"));

    let parsed = Envelope::parse(data);
    let fixed = DataKey::from_bytes(1, &TEST_KEY);
    let ctx: Option<&[u8]> = data.get(..3);
    for kind in [ValueKind::Text, ValueKind::Bytea] {
        // Under a fixed key id, and under whatever id the input claims, so the fuzzer reaches
        // the authentication step without having to guess the id. A forgery would be a bug.
        assert!(open(&fixed, kind, ctx, data).is_err());
        if let Ok(env) = parsed {
            let claimed = DataKey::from_bytes(env.key_id(), &TEST_KEY);
            assert!(open(&claimed, kind, None, data).is_err());
            assert!(open(&claimed, kind, ctx, data).is_err());
        }
    }

    // And the input as a plaintext: sealing then opening gives it back.
    let env = seal(&fixed, ValueKind::Bytea, ctx, data);
    assert_eq!(
        &open(&fixed, ValueKind::Bytea, ctx, &env).unwrap()[..],
        data
    );
});
