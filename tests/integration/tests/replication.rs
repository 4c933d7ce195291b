//! Logical replication: ciphertext and the keyring replicate as they are; a subscriber with the
//! same root key decrypts, and a key destroyed on the publisher stops working in subscriber
//! sessions that had it cached (the keyring triggers fire on the subscriber too).

use pg_privacy_integration::{cluster_with_key, random_key_hex, sqlstate, wait_until};

#[test]
fn a_subscriber_with_the_same_root_key_decrypts_and_sees_destruction() {
    let key_line = format!("repl-root {}", random_key_hex());
    let publisher = cluster_with_key("pub", &key_line, &["wal_level = logical"]);
    let subscriber = cluster_with_key("sub", &key_line, &[]);
    let mut p = publisher.with_extension();
    let mut s = subscriber.with_extension();
    let schema = "CREATE TABLE customers (id int PRIMARY KEY, card privacy.encrypted_text);";
    p.batch_execute(schema).unwrap();
    s.batch_execute(schema).unwrap();
    p.batch_execute(
        "SELECT privacy.create_key('customer_pii');
         INSERT INTO customers SELECT i, privacy.encrypt('card ' || i, 'customer_pii', i::text) FROM generate_series(1, 10) i;
         CREATE PUBLICATION desk FOR TABLE customers, privacy.keyring, privacy.decrypt_grants;",
    )
    .unwrap();
    let port: String = p.query_one("SHOW port", &[]).unwrap().get(0);
    s.batch_execute(&format!(
        "CREATE SUBSCRIPTION desk CONNECTION 'host={} port={port} user=postgres dbname=postgres' PUBLICATION desk",
        publisher.dir().display()
    ))
    .unwrap();
    assert!(
        wait_until(&mut s, "SELECT count(*) = 10 FROM customers", 60),
        "initial sync; subscriber log:\n{}",
        subscriber.log()
    );
    assert!(wait_until(
        &mut s,
        "SELECT count(*) = 1 FROM privacy.keys",
        30
    ));
    let card: String = s
        .query_one(
            "SELECT privacy.decrypt(card, id::text) FROM customers WHERE id = 3",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(card, "card 3");

    // Destroyed on the publisher: the subscriber session that has the key cached loses it.
    p.batch_execute("SELECT privacy.destroy_key('customer_pii')")
        .unwrap();
    assert!(wait_until(
        &mut s,
        "SELECT bool_and(status = 'destroyed') FROM privacy.keys",
        30
    ));
    let err = s
        .query_one(
            "SELECT privacy.decrypt(card, id::text) FROM customers WHERE id = 3",
            &[],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&err), "55000");
}
