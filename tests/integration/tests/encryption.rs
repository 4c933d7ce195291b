//! Encrypted columns against live servers: several sessions and roles, cache invalidation
//! across sessions, tampering, large values, dump and restore across clusters, binary COPY, and
//! what reaches the server log.

use pg_privacy_core::envelope::{decode_armored, encode_armored, MIN_ENVELOPE_LEN};
use pg_privacy_integration::{cluster_with_key, error_text, random_key_hex, sqlstate, Cluster};
use std::io::{Read, Write};

fn setup_desk(c: &mut postgres::Client) {
    c.batch_execute(
        "CREATE ROLE supervisors NOLOGIN;
         CREATE ROLE sam LOGIN IN ROLE supervisors;
         CREATE ROLE agent LOGIN;
         CREATE ROLE keeper LOGIN IN ROLE privacy_admin;
         SELECT privacy.create_key('customer_pii');
         CREATE TABLE customers (id int PRIMARY KEY, card privacy.encrypted_text);
         INSERT INTO customers SELECT i, privacy.encrypt('4111 1111 1111 ' || lpad(i::text, 4, '0'), 'customer_pii', i::text)
           FROM generate_series(1, 100) i;
         GRANT SELECT ON customers TO supervisors, agent;
         SELECT privacy.grant_decrypt('customer_pii', 'supervisors');",
    )
    .unwrap();
}

const DECRYPT_ONE: &str = "SELECT privacy.decrypt(card, id::text) FROM customers WHERE id = 7";

#[test]
fn grants_follow_membership_and_set_role_and_revocation_reaches_open_sessions() {
    let cluster = cluster_with_key("grants", &format!("it-root {}", random_key_hex()), &[]);
    let mut admin = cluster.with_extension();
    setup_desk(&mut admin);

    let mut sam = cluster.connect("sam");
    let card: String = sam.query_one(DECRYPT_ONE, &[]).unwrap().get(0);
    assert_eq!(card, "4111 1111 1111 0007");

    let mut agent = cluster.connect("agent");
    let err = agent.query_one(DECRYPT_ONE, &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "42501");
    let hidden: Option<String> = agent
        .query_one(
            "SELECT privacy.try_decrypt(card, id::text) FROM customers WHERE id = 7",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(hidden, None);

    // A pooled connection switching role per request: SET ROLE changes the answer at once.
    admin.batch_execute("GRANT supervisors TO agent").unwrap();
    let mut pooled = cluster.connect("agent");
    pooled.batch_execute("SET ROLE supervisors").unwrap();
    assert_eq!(
        pooled
            .query_one(DECRYPT_ONE, &[])
            .unwrap()
            .get::<_, String>(0),
        card
    );
    pooled
        .batch_execute("RESET ROLE; CREATE ROLE nobody NOLOGIN; ")
        .unwrap_err(); // agent cannot create roles
    pooled
        .batch_execute("REVOKE supervisors FROM agent")
        .unwrap_err();
    admin
        .batch_execute("REVOKE supervisors FROM agent")
        .unwrap();

    // Revoking the grant in one session reaches sam's open session at its next transaction,
    // although sam has the key cached.
    let mut keeper = cluster.connect("keeper");
    keeper
        .batch_execute("SELECT privacy.revoke_decrypt('customer_pii', 'supervisors')")
        .unwrap();
    assert_eq!(
        sqlstate(&sam.query_one(DECRYPT_ONE, &[]).unwrap_err()),
        "42501"
    );
    keeper
        .batch_execute("SELECT privacy.grant_decrypt('customer_pii', 'supervisors')")
        .unwrap();
    assert_eq!(
        sam.query_one(DECRYPT_ONE, &[]).unwrap().get::<_, String>(0),
        card
    );

    // Agents cannot manage keys or read the keyring.
    for stmt in [
        "SELECT privacy.create_key('mine')",
        "SELECT privacy.grant_decrypt('customer_pii', 'agent')",
        "SELECT * FROM privacy.keyring",
        "SELECT * FROM privacy.keys",
        "UPDATE privacy.keyring SET status = 'active'",
    ] {
        assert_eq!(
            sqlstate(&agent.batch_execute(stmt).unwrap_err()),
            "42501",
            "{stmt}"
        );
    }
}

#[test]
fn destroying_a_key_reaches_a_session_that_has_it_cached() {
    let cluster = cluster_with_key("shred", &format!("it-root {}", random_key_hex()), &[]);
    let mut admin = cluster.with_extension();
    setup_desk(&mut admin);
    let mut sam = cluster.connect("sam");
    sam.query_one(DECRYPT_ONE, &[]).unwrap();
    let mut keeper = cluster.connect("keeper");
    keeper
        .batch_execute("SELECT privacy.revoke_key('customer_pii')")
        .unwrap();
    assert_eq!(
        sqlstate(&sam.query_one(DECRYPT_ONE, &[]).unwrap_err()),
        "55000"
    );
    keeper
        .batch_execute("SELECT privacy.restore_key('customer_pii')")
        .unwrap();
    sam.query_one(DECRYPT_ONE, &[]).unwrap();
    keeper
        .batch_execute("SELECT privacy.destroy_key('customer_pii')")
        .unwrap();
    let err = sam.query_one(DECRYPT_ONE, &[]).unwrap_err();
    assert_eq!(sqlstate(&err), "55000");
    assert!(
        error_text(&err).contains("destroyed"),
        "{}",
        error_text(&err)
    );
    // try_decrypt keeps a query over shredded rows working.
    let n: i64 = sam
        .query_one(
            "SELECT count(*) FROM customers WHERE privacy.try_decrypt(card, id::text) IS NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 100);
}

#[test]
fn a_revocation_seen_inside_a_repeatable_read_transaction_holds_after_it() {
    // A REPEATABLE READ transaction reloads the keyring under its old snapshot (the key still
    // active): right for that transaction, but the cache must not keep it afterwards.
    let cluster = cluster_with_key("rrkeys", &format!("it-root {}", random_key_hex()), &[]);
    let mut admin = cluster.with_extension();
    setup_desk(&mut admin);
    let mut sam = cluster.connect("sam");
    sam.query_one(DECRYPT_ONE, &[]).unwrap();
    sam.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1;")
        .unwrap();
    let mut keeper = cluster.connect("keeper");
    keeper
        .batch_execute("SELECT privacy.revoke_key('customer_pii')")
        .unwrap();
    let inside: String = sam.query_one(DECRYPT_ONE, &[]).unwrap().get(0);
    assert_eq!(
        inside, "4111 1111 1111 0007",
        "the snapshot predates the revocation"
    );
    sam.batch_execute("COMMIT").unwrap();
    assert_eq!(
        sqlstate(&sam.query_one(DECRYPT_ONE, &[]).unwrap_err()),
        "55000",
        "the revocation applies from the next transaction"
    );
}

#[test]
fn every_flipped_byte_and_every_truncation_is_a_clean_error() {
    let cluster = cluster_with_key("tamper", &format!("it-root {}", random_key_hex()), &[]);
    let mut c = cluster.with_extension();
    c.batch_execute("SELECT privacy.create_key('k')").unwrap();
    let armored: String = c
        .query_one("SELECT privacy.encrypt('tamper me', 'k', 'ctx')::text", &[])
        .unwrap()
        .get(0);
    let envelope = decode_armored(&armored).unwrap();
    let mut states = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..envelope.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = envelope.clone();
            bad[i] ^= mask;
            let text = encode_armored(&bad);
            let err = c
                .query_one(
                    "SELECT privacy.decrypt($1::text::privacy.encrypted_text, 'ctx')",
                    &[&text],
                )
                .expect_err("an altered value never decrypts");
            *states.entry(sqlstate(&err)).or_default() += 1;
        }
    }
    // Shorter than an envelope can be: refused on input. Long enough: refused by decrypt.
    for cut in 0..envelope.len() {
        let text = encode_armored(&envelope[..cut]);
        let err = c
            .query_one(
                "SELECT privacy.decrypt($1::text::privacy.encrypted_text, 'ctx')",
                &[&text],
            )
            .expect_err("a truncated value never decrypts");
        let want = if cut < MIN_ENVELOPE_LEN {
            "22P02"
        } else {
            "22023"
        };
        assert_eq!(sqlstate(&err), want, "cut {cut}");
    }
    // 22023: authentication failed; 22P02: unknown format version; 42704: the key id now names
    // no key. Never a crash: the same session still works.
    for state in states.keys() {
        assert!(
            ["22023", "22P02", "42704"].contains(&state.as_str()),
            "unexpected {state}: {states:?}"
        );
    }
    let ok: String = c
        .query_one(
            "SELECT privacy.decrypt($1::text::privacy.encrypted_text, 'ctx')",
            &[&armored],
        )
        .unwrap()
        .get(0);
    assert_eq!(ok, "tamper me");
    assert!(!cluster.log().contains("PANIC") && !cluster.log().contains("terminated by signal"));
}

#[test]
fn large_unicode_and_empty_values_round_trip() {
    let cluster = cluster_with_key("sizes", &format!("it-root {}", random_key_hex()), &[]);
    let mut c = cluster.with_extension();
    c.batch_execute("SELECT privacy.create_key('k')").unwrap();
    let big: String =
        "顧客メモ: カード 4111-1111-1111-1111 / 電話 ０９０－１２３４－５６７８ 🙂 ".repeat(14_000);
    assert!(big.len() > 1_000_000);
    for value in [big.as_str(), "", "é", "\u{10FFFF}"] {
        let back: String = c
            .query_one(
                "SELECT privacy.decrypt(privacy.encrypt($1::text, 'k', 'row 1'), 'row 1')",
                &[&value],
            )
            .unwrap()
            .get(0);
        assert_eq!(back, value);
    }
    let bytes: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let back: Vec<u8> = c
        .query_one(
            "SELECT privacy.decrypt(privacy.encrypt($1::bytea, 'k'))",
            &[&bytes],
        )
        .unwrap()
        .get(0);
    assert_eq!(back, bytes);
}

#[test]
fn dumps_restore_as_ciphertext_into_a_cluster_with_the_same_root_key_only() {
    let key_line = format!("it-root {}", random_key_hex());
    let source = cluster_with_key("dumpsrc", &key_line, &[]);
    let mut c = source.with_extension();
    c.batch_execute(
        "SELECT privacy.create_key('customer_pii');
         SELECT privacy.rotate_key('customer_pii');
         CREATE TABLE customers (id int PRIMARY KEY, card privacy.encrypted_text, photo privacy.encrypted_bytea);
         INSERT INTO customers SELECT i, privacy.encrypt('card ' || i, 'customer_pii', i::text),
                                         privacy.encrypt(convert_to('photo ' || i, 'UTF8'), 'customer_pii')
           FROM generate_series(1, 50) i;",
    )
    .unwrap();
    let dump = source.dir().join("desk.dump");
    let out = source
        .client("pg_dump")
        .args(["-Fc", "-f"])
        .arg(&dump)
        .arg("postgres")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = source.client("pg_dump").arg("postgres").output().unwrap();
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(
        plain.contains("enc1:") && !plain.contains("card 7"),
        "the dump holds ciphertext only"
    );

    let check = |cluster: &Cluster, db: &str| -> Result<i64, postgres::Error> {
        let mut c = cluster.connect_db(db, "postgres");
        c.query_one(
            "SELECT count(*) FROM customers WHERE privacy.decrypt(card, id::text) = 'card ' || id \
             AND convert_from(privacy.decrypt(photo), 'UTF8') = 'photo ' || id",
            &[],
        )
        .map(|r| r.get(0))
    };
    let restore = |cluster: &Cluster, db: &str| {
        let mut c = cluster.connect("postgres");
        c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        let out = cluster
            .client("pg_restore")
            .args(["-d", db])
            .arg(&dump)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_restore: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    // Same cluster, new database.
    restore(&source, "copy1");
    assert_eq!(check(&source, "copy1").unwrap(), 50);

    // A new cluster with the same root key: keys and data arrive wrapped, and decrypt.
    let twin = cluster_with_key("dumptwin", &key_line, &[]);
    restore(&twin, "desk");
    assert_eq!(check(&twin, "desk").unwrap(), 50);
    let versions: i64 = twin
        .connect_db("desk", "postgres")
        .query_one("SELECT count(*) FROM privacy.keys", &[])
        .unwrap()
        .get(0);
    assert_eq!(versions, 2);

    // A cluster with another root key under the same id cannot read it.
    let stranger = cluster_with_key("dumpother", &format!("it-root {}", random_key_hex()), &[]);
    restore(&stranger, "desk");
    let err = check(&stranger, "desk").unwrap_err();
    assert_eq!(sqlstate(&err), "XX001", "{}", error_text(&err));
}

#[test]
fn binary_copy_carries_the_envelope_and_checks_it_on_the_way_in() {
    let cluster = cluster_with_key("bincopy", &format!("it-root {}", random_key_hex()), &[]);
    let mut c = cluster.with_extension();
    c.batch_execute(
        "SELECT privacy.create_key('k');
         CREATE TABLE a (id int, v privacy.encrypted_text);
         CREATE TABLE b (id int, v privacy.encrypted_text);
         INSERT INTO a SELECT i, privacy.encrypt('value ' || i, 'k', i::text) FROM generate_series(1, 20) i;",
    )
    .unwrap();
    let mut data = Vec::new();
    c.copy_out("COPY a TO STDOUT (FORMAT binary)")
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    let mut w = c.copy_in("COPY b FROM STDIN (FORMAT binary)").unwrap();
    w.write_all(&data).unwrap();
    w.finish().unwrap();
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM b WHERE privacy.decrypt(v, id::text) = 'value ' || id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 20);
    // Text COPY with something that is not an envelope is refused.
    let mut w = c.copy_in("COPY b FROM STDIN").unwrap();
    w.write_all(b"1\tplain text card 4111111111111111\n")
        .unwrap();
    let err = w.finish().unwrap_err();
    assert_eq!(sqlstate(&err), "22P02");
}

#[test]
fn the_server_log_never_holds_plaintext_or_the_root_key() {
    let key = random_key_hex();
    let cluster = cluster_with_key(
        "logcheck",
        &format!("it-root {key}"),
        &[
            "log_statement = 'all'",
            "log_min_messages = debug1",
            "log_min_error_statement = debug1",
        ],
    );
    let mut c = cluster.with_extension();
    c.batch_execute(
        "SELECT privacy.create_key('customer_pii');
         CREATE ROLE agent LOGIN;
         CREATE TABLE staging (id int, secret text);
         CREATE TABLE customers (id int PRIMARY KEY, card privacy.encrypted_text);
         GRANT SELECT ON customers TO agent;",
    )
    .unwrap();
    // Plaintext arrives by COPY (whose data is never logged) and is encrypted server-side.
    let mut w = c.copy_in("COPY staging FROM STDIN").unwrap();
    for i in 0..20 {
        writeln!(w, "{i}\tSECRETCARD-{i:04}-ZQX").unwrap();
    }
    w.finish().unwrap();
    c.batch_execute(
        "INSERT INTO customers SELECT id, privacy.encrypt(secret, 'customer_pii', id::text) FROM staging;
         DROP TABLE staging;",
    )
    .unwrap();
    let mut agent = cluster.connect("agent");
    for i in 0..20 {
        let _ = c.query_one(
            "SELECT privacy.decrypt(card, 'wrong') FROM customers WHERE id = $1",
            &[&i],
        );
        let _ = agent.query_one(
            "SELECT privacy.decrypt(card, id::text) FROM customers WHERE id = $1",
            &[&i],
        );
        let ok: String = c
            .query_one(
                "SELECT privacy.decrypt(card, id::text) FROM customers WHERE id = $1",
                &[&i],
            )
            .unwrap()
            .get(0);
        assert!(ok.starts_with("SECRETCARD-"));
    }
    c.batch_execute("SELECT privacy.rotate_key('customer_pii'); SELECT privacy.rewrap_keys();")
        .unwrap();
    let log = cluster.log();
    assert!(
        log.contains("permission denied to decrypt"),
        "the failures were logged"
    );
    assert!(
        !log.contains("SECRETCARD"),
        "a decrypted value reached the log"
    );
    assert!(
        !log.contains(&key) && !log.contains(&key[..32]) && !log.contains(&key[32..]),
        "the root key reached the log"
    );
}

#[test]
fn sessions_encrypt_and_decrypt_while_the_key_rotates() {
    let cluster = cluster_with_key("rotateload", &format!("it-root {}", random_key_hex()), &[]);
    let mut admin = cluster.with_extension();
    admin
        .batch_execute("SELECT privacy.create_key('k'); CREATE TABLE t (id bigserial PRIMARY KEY, who int, v privacy.encrypted_text);")
        .unwrap();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut c = cluster.connect("postgres");
            std::thread::spawn(move || {
                for i in 0..200 {
                    c.execute(
                        "INSERT INTO t (who, v) VALUES ($1, privacy.encrypt($2, 'k'))",
                        &[&w, &format!("w{w}-{i}")],
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for _ in 0..5 {
        admin
            .batch_execute("SELECT privacy.rotate_key('k')")
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for w in writers {
        w.join().unwrap();
    }
    let rows = admin
        .query("SELECT privacy.key_of(v), count(*), count(*) FILTER (WHERE privacy.decrypt(v) LIKE 'w%') FROM t GROUP BY 1", &[])
        .unwrap();
    let total: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
    let readable: i64 = rows.iter().map(|r| r.get::<_, i64>(2)).sum();
    assert_eq!((total, readable), (800, 800));
    assert!(
        rows.len() >= 2,
        "values were written under several versions: {}",
        rows.len()
    );
}

#[test]
fn concurrent_rotations_and_creations_serialise_cleanly() {
    let cluster = cluster_with_key("rotaterace", &format!("it-root {}", random_key_hex()), &[]);
    let mut admin = cluster.with_extension();
    admin
        .batch_execute("SELECT privacy.create_key('k')")
        .unwrap();
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let mut c = cluster.connect("postgres");
            std::thread::spawn(move || {
                for _ in 0..10 {
                    c.batch_execute(
                        "BEGIN; SELECT privacy.rotate_key('k'); SELECT pg_sleep(0.005); COMMIT;",
                    )
                    .unwrap();
                }
                // Racing creators of the same name: one wins, the others get 42710.
                c.batch_execute(&format!("SELECT privacy.create_key('race'); SELECT {t}"))
                    .map_err(|e| sqlstate(&e))
            })
        })
        .collect();
    let created: Vec<Result<(), String>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        created.iter().filter(|r| r.is_ok()).count(),
        1,
        "{created:?}"
    );
    assert!(
        created
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|s| s == "42710"),
        "{created:?}"
    );
    let row = admin
        .query_one(
            "SELECT max(version), count(*), count(*) FILTER (WHERE status = 'active') FROM privacy.keys WHERE name = 'k'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i32>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2)
        ),
        (31, 31, 1)
    );
}

#[test]
fn twenty_thousand_per_customer_keys_in_one_transaction_with_a_bounded_cache() {
    let cluster = cluster_with_key("manykeys", &format!("it-root {}", random_key_hex()), &[]);
    let mut c = cluster.with_extension();
    c.batch_execute(
        "SELECT count(privacy.create_key('customer:' || i)) FROM generate_series(1, 20000) i;
         CREATE TABLE notes AS SELECT i AS id, privacy.encrypt('note ' || i, 'customer:' || i) AS note
           FROM generate_series(1, 20000) i;
         SET privacy.key_cache_size = 2000;",
    )
    .unwrap();
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM notes WHERE privacy.decrypt(note) = 'note ' || id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 20_000);
    let cache: String = c
        .query_one("SELECT privacy.status()->>'key_cache'", &[])
        .unwrap()
        .get(0);
    let cache: serde_json::Value = serde_json::from_str(&cache).unwrap();
    assert!(cache["entries"].as_u64().unwrap() <= 2000, "{cache}");
}
