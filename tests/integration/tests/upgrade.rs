//! Upgrades: a database that installed an earlier version and ran `ALTER EXTENSION pg_privacy
//! UPDATE` must end up with exactly the objects of a fresh install, and keep its data working.
//! The earlier versions' install scripts are kept in sql/history/ (scripts/lib.sh installs them).

use pg_privacy_integration::{cluster_with_key, random_key_hex};

/// Every member of the extension with what defines it: function definitions and privileges,
/// table columns, defaults, constraints, indexes, triggers (and whether they fire always),
/// view definitions, types, event triggers, comments, and the config-dump registrations.
const DESCRIBE: &str = r#"
WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'pg_privacy'),
members AS (
  SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
   WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT pg_describe_object(m.classid, m.objid, m.objsubid) AS object,
  coalesce(CASE m.classid
    WHEN 'pg_proc'::regclass THEN
      (SELECT pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, '-')
         FROM pg_proc p WHERE p.oid = m.objid)
    WHEN 'pg_class'::regclass THEN
      (SELECT c.relkind::text || ' acl=' || coalesce(c.relacl::text, '-')
              || ' opts=' || coalesce(c.reloptions::text, '-')
              || CASE WHEN c.relkind = 'v' THEN ' view=' || pg_get_viewdef(c.oid) ELSE '' END
              || ' cols=' || coalesce((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                                          || ':' || a.attnotnull || ':' || a.attidentity::text
                                          || ':' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), ''), ', ' ORDER BY a.attnum)
                                        FROM pg_attribute a
                                        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
              || ' cons=' || coalesce((SELECT string_agg(co.conname || ' ' || pg_get_constraintdef(co.oid), ', ' ORDER BY co.conname)
                                         FROM pg_constraint co WHERE co.conrelid = c.oid), '')
              || ' idx=' || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), ', ' ORDER BY 1)
                                        FROM pg_index i WHERE i.indrelid = c.oid), '')
              || ' trg=' || coalesce((SELECT string_agg(pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text, ', ' ORDER BY t.tgname)
                                        FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '')
         FROM pg_class c WHERE c.oid = m.objid)
    WHEN 'pg_type'::regclass THEN
      (SELECT t.typtype::text || ' ' || t.typinput::text || ' ' || t.typoutput::text || ' ' || t.typreceive::text
              || ' ' || t.typsend::text || ' ' || t.typstorage::text || ' ' || t.typcategory::text
         FROM pg_type t WHERE t.oid = m.objid)
    WHEN 'pg_event_trigger'::regclass THEN
      (SELECT e.evtevent || ' ' || e.evtfoid::regproc::text || ' ' || e.evtenabled::text || ' ' || coalesce(e.evttags::text, '-')
         FROM pg_event_trigger e WHERE e.oid = m.objid)
    WHEN 'pg_namespace'::regclass THEN
      (SELECT coalesce(n.nspacl::text, '-') FROM pg_namespace n WHERE n.oid = m.objid)
  END, '') AS definition,
  coalesce(obj_description(m.objid, m.classid::regclass::name), '') AS comment
FROM members m
UNION ALL
SELECT 'config', (SELECT string_agg(x::regclass::text || '=' || coalesce(y, ''), ', ' ORDER BY x::regclass::text)
                    FROM ext, unnest(ext.extconfig, ext.extcondition) AS u(x, y)), ''
ORDER BY 1, 2
"#;

fn describe(client: &mut postgres::Client) -> Vec<(String, String, String)> {
    client
        .query(DESCRIBE, &[])
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[test]
fn updating_from_0_1_0_gives_the_objects_of_a_fresh_install_and_keeps_data() {
    let cluster = cluster_with_key("upgrade", &format!("it-root {}", random_key_hex()), &[]);
    let mut admin = cluster.connect("postgres");
    admin.batch_execute("CREATE DATABASE upgraded").unwrap();
    admin.batch_execute("CREATE DATABASE fresh").unwrap();

    let mut old = cluster.connect_db("upgraded", "postgres");
    old.batch_execute(
        "CREATE EXTENSION pg_privacy VERSION '0.1.0';
         SELECT privacy.create_key('customers');
         CREATE TABLE people (id int PRIMARY KEY, email text, card privacy.encrypted_text);
         INSERT INTO people VALUES (1, 'alice@example.com', privacy.encrypt('4111 1111 1111 1111', 'customers'));",
    )
    .unwrap();
    old.batch_execute("ALTER EXTENSION pg_privacy UPDATE")
        .unwrap();
    let version: String = old
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_privacy'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, env!("CARGO_PKG_VERSION"));

    let mut new = cluster.connect_db("fresh", "postgres");
    new.batch_execute("CREATE EXTENSION pg_privacy").unwrap();

    let upgraded = describe(&mut old);
    let fresh = describe(&mut new);
    let only_upgraded: Vec<_> = upgraded.iter().filter(|o| !fresh.contains(o)).collect();
    let only_fresh: Vec<_> = fresh.iter().filter(|o| !upgraded.contains(o)).collect();
    assert!(
        only_upgraded.is_empty() && only_fresh.is_empty(),
        "upgraded and fresh installs differ\nonly after the upgrade: {only_upgraded:#?}\nonly in a fresh install: {only_fresh:#?}"
    );
    assert!(
        fresh.len() > 90,
        "the description lists every member, not {}",
        fresh.len()
    );

    // Data written under 0.1.0 still decrypts, and the new version's features work on it.
    let card: String = old
        .query_one("SELECT privacy.decrypt(card) FROM people", &[])
        .unwrap()
        .get(0);
    assert_eq!(card, "4111 1111 1111 1111");
    old.batch_execute(
        "SELECT privacy.mask_column('people', 'card', 'privacy.mask_card(privacy.try_decrypt(card))');",
    )
    .unwrap();
    let masked: String = old
        .query_one("SELECT card FROM masked.people", &[])
        .unwrap()
        .get(0);
    assert_eq!(masked, "**** **** **** 1111");
}
