//! Key management: create, rotate, revoke, restore, destroy, rewrap, and decrypt grants.
//!
//! These functions are for `privacy_admin` (EXECUTE is granted to it alone). They change the
//! closed keyring tables with elevated rights (see `elevated`), serialise per key name with an
//! advisory lock, and record each change through `events::record`. SQL declarations are in
//! sql/keys.sql.

use crate::elevated;
use crate::error::{OrRaise, PrivacyError};
use crate::keys::{events, root};
use pg_privacy_core::wrap::{generate_dek, unwrap_dek, wrap_dek};
use pgrx::prelude::*;

const MAX_NAME_CHARS: usize = 200;

fn validate_name(name: &str) -> Result<(), PrivacyError> {
    let chars = name.chars().count();
    if chars == 0
        || chars > MAX_NAME_CHARS
        || name.trim() != name
        || name.chars().any(char::is_control)
    {
        return Err(PrivacyError::InvalidParameter(format!(
            "a key name must be 1 to {MAX_NAME_CHARS} characters, without control characters or \
             surrounding spaces"
        )));
    }
    Ok(())
}

/// A required argument: NULL is refused with 22023 rather than ignored.
fn required<T>(value: Option<T>, what: &str) -> T {
    value.unwrap_or_else(|| {
        PrivacyError::InvalidParameter(format!("{what} must not be NULL")).raise()
    })
}

fn spi_err(e: pgrx::spi::Error) -> PrivacyError {
    PrivacyError::Internal {
        what: format!("keyring update failed: {e}"),
    }
}

/// Number of rows for a name, and (when asked) whether the given version exists.
fn require_key(name: &str, version: Option<i32>) -> Result<(), PrivacyError> {
    let n = Spi::get_one_with_args::<i64>(
        "SELECT count(*) FROM privacy.keyring WHERE name = $1 AND ($2::int IS NULL OR version = $2)",
        &[name.into(), version.into()],
    )
    .map_err(spi_err)?
    .unwrap_or(0);
    if n > 0 {
        return Ok(());
    }
    Err(PrivacyError::UnknownKey {
        name: match version {
            Some(v) => format!("{name}:{v}"),
            None => name.to_string(),
        },
    })
}

fn next_id() -> Result<i32, PrivacyError> {
    Spi::get_one::<i64>("SELECT nextval(pg_get_serial_sequence('privacy.keyring', 'id'))")
        .map_err(spi_err)?
        .map(|v| v as i32)
        .ok_or_else(|| PrivacyError::Internal {
            what: "no keyring id".into(),
        })
}

/// The identity the blind-index key of a keyring row is wrapped under: the name with a suffix
/// no key name can contain (names have no control characters), so it never unwraps as the
/// row's data key or the other way round.
pub fn index_key_label(name: &str) -> String {
    format!("{name}\u{1}blind-index")
}

/// Generates a data key, wraps it and the name's blind-index key (a new one when `index_key`
/// is None) under the active root key, and inserts the version.
fn insert_version(
    name: &str,
    version: i32,
    description: Option<&str>,
    index_key: Option<&[u8; 32]>,
) -> Result<Option<i32>, PrivacyError> {
    let ring = root::keyring()?;
    let root_key = ring.active();
    let id = next_id()?;
    let dek = generate_dek();
    let fresh_index_key = generate_dek();
    let index_key = index_key.unwrap_or(&fresh_index_key);
    let wrapped = wrap_dek(root_key, id as u32, name, version as u32, &dek);
    let wrapped_index = wrap_dek(
        root_key,
        id as u32,
        &index_key_label(name),
        version as u32,
        index_key,
    );
    Spi::get_one_with_args::<i32>(
        "WITH inserted AS ( \
           INSERT INTO privacy.keyring (id, name, version, status, wrapped_key, wrapped_index_key, \
                                        root_key_id, description) \
           VALUES ($1, $2, $3, 'active', $4, $5, $6, $7) \
           ON CONFLICT DO NOTHING RETURNING id) \
         SELECT (SELECT id FROM inserted)",
        &[
            id.into(),
            name.into(),
            version.into(),
            wrapped.into(),
            wrapped_index.into(),
            root_key.id().into(),
            description.into(),
        ],
    )
    .map_err(spi_err)
}

#[pg_extern(sql = false)]
fn create_key(name: Option<&str>, description: Option<&str>) -> i32 {
    let name = required(name, "the key name");
    validate_name(name).or_raise();
    let id = elevated::run(|| {
        // The unique (name, version) constraint decides between concurrent creators: the
        // second waits for the first and then finds the conflict. No lock per name is taken,
        // so one transaction can create keys for 100,000 customers.
        insert_version(name, 1, description, None)?.ok_or_else(|| PrivacyError::DuplicateKey {
            name: name.to_string(),
        })
    })
    .or_raise();
    events::record(
        "KEY_CREATE",
        Some(name),
        &format!("key \"{name}\" version 1"),
    );
    id
}

#[pg_extern(sql = false)]
fn rotate_key(name: Option<&str>) -> i32 {
    let name = required(name, "the key name");
    let version = elevated::run(|| {
        require_key(name, None)?;
        // A revoked active version does not block rotation (revoke a compromised version, then
        // rotate so new writes use a fresh key); the blind-index key then comes from the newest
        // version not destroyed.
        let active = lock_active(name)?;
        let source_id = match active {
            Some(id) => id,
            None => Spi::get_one_with_args::<i32>(
                "SELECT (SELECT id FROM privacy.keyring WHERE name = $1 AND status <> 'destroyed' \
                         ORDER BY version DESC LIMIT 1)",
                &[name.into()],
            )
            .map_err(spi_err)?
            .ok_or_else(|| PrivacyError::NoActiveVersion { name: name.to_string() })?,
        };
        let next = Spi::get_one_with_args::<i32>(
            "SELECT max(version) + 1 FROM privacy.keyring WHERE name = $1",
            &[name.into()],
        )
        .map_err(spi_err)?
        .unwrap_or(1);
        // The new version keeps the name's blind-index key, so stored indexes stay valid.
        let (description, wrapped_index, root_id, active_version) = Spi::connect(|client| {
            let row = client
                .select(
                    "SELECT description, wrapped_index_key, root_key_id, version FROM privacy.keyring WHERE id = $1",
                    Some(1),
                    &[source_id.into()],
                )?
                .first();
            Ok::<_, pgrx::spi::Error>((
                row.get::<String>(1)?,
                row.get::<Vec<u8>>(2)?,
                row.get::<String>(3)?,
                row.get::<i32>(4)?,
            ))
        })
        .map_err(spi_err)?;
        let ring = root::keyring()?;
        let (Some(wrapped_index), Some(root_id), Some(active_version)) = (wrapped_index, root_id, active_version)
        else {
            return Err(PrivacyError::Internal { what: "active key row is incomplete".into() });
        };
        let label = format!("{name}:{active_version}");
        let root_key = ring
            .get(&root_id)
            .ok_or_else(|| PrivacyError::RootKeyMissing { root_id: root_id.clone(), key: label.clone() })?;
        let index_key = unwrap_dek(root_key, source_id as u32, &index_key_label(name), active_version as u32, &wrapped_index)
            .map_err(|_| PrivacyError::KeyCorrupt { key: label })?;
        if let Some(active_id) = active {
            Spi::run_with_args(
                "UPDATE privacy.keyring SET status = 'retired', status_changed_at = now() WHERE id = $1",
                &[active_id.into()],
            )
            .map_err(spi_err)?;
        }
        insert_version(name, next, description.as_deref(), Some(&index_key))?
            .ok_or_else(|| PrivacyError::Internal { what: format!("version {next} of \"{name}\" exists") })?;
        Ok(next)
    })
    .or_raise();
    events::record(
        "KEY_ROTATE",
        Some(name),
        &format!("key \"{name}\" version {version}"),
    );
    version
}

/// Locks the active version of a name and returns its id. A concurrent rotation retires the
/// row this statement waited for; the next statement's snapshot then sees the new active
/// version, so look again rather than report "no active version". Every retry means another
/// rotation of the name committed meanwhile, so with several sessions rotating one name at
/// once a handful of retries was not enough (seen in CI with three): the bound is only a guard.
fn lock_active(name: &str) -> Result<Option<i32>, PrivacyError> {
    for _ in 0..1000 {
        let locked = Spi::connect_mut(|client| {
            let rows = client.update(
                "SELECT id FROM privacy.keyring WHERE name = $1 AND status = 'active' FOR UPDATE",
                None,
                &[name.into()],
            )?;
            Ok::<_, pgrx::spi::Error>(rows.filter_map(|r| r.get::<i32>(1).ok().flatten()).next())
        })
        .map_err(spi_err)?;
        if let Some(id) = locked {
            return Ok(Some(id));
        }
        let any_active = Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM privacy.keyring WHERE name = $1 AND status = 'active')",
            &[name.into()],
        )
        .map_err(spi_err)?;
        if any_active != Some(true) {
            return Ok(None);
        }
    }
    Err(PrivacyError::NoActiveVersion {
        name: name.to_string(),
    })
}

/// Applies a status change to the matching versions and returns the versions changed.
fn change_status(
    name: &str,
    version: Option<i32>,
    update: &str,
    from: &str,
    refuse_destroyed: bool,
) -> Result<Vec<i32>, PrivacyError> {
    require_key(name, version)?;
    if version.is_some() && refuse_destroyed {
        let destroyed = Spi::get_one_with_args::<bool>(
            "SELECT (SELECT status = 'destroyed' FROM privacy.keyring WHERE name = $1 AND version = $2)",
            &[name.into(), version.into()],
        )
        .map_err(spi_err)?;
        if destroyed == Some(true) {
            return Err(PrivacyError::KeyDestroyed {
                key: format!("{name}:{}", version.unwrap_or(0)),
            });
        }
    }
    let query = format!(
        "UPDATE privacy.keyring SET {update}, status_changed_at = now() \
         WHERE name = $1 AND ($2::int IS NULL OR version = $2) AND {from} RETURNING version"
    );
    Spi::connect_mut(|client| {
        let rows = client.update(query.as_str(), None, &[name.into(), version.into()])?;
        Ok::<_, pgrx::spi::Error>(
            rows.filter_map(|r| r.get::<i32>(1).ok().flatten())
                .collect(),
        )
    })
    .map_err(spi_err)
}

fn versions_text(versions: &[i32]) -> String {
    versions
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[pg_extern(sql = false)]
fn revoke_key(name: Option<&str>, version: Option<i32>) {
    let name = required(name, "the key name");
    let changed = elevated::run(|| {
        change_status(
            name,
            version,
            "status_before_revoke = status, status = 'revoked'",
            "status IN ('active', 'retired')",
            true,
        )
    })
    .or_raise();
    if !changed.is_empty() {
        events::record(
            "KEY_REVOKE",
            Some(name),
            &format!("key \"{name}\" version {}", versions_text(&changed)),
        );
    }
}

#[pg_extern(sql = false)]
fn restore_key(name: Option<&str>, version: Option<i32>) {
    let name = required(name, "the key name");
    let changed = elevated::run(|| {
        // The version that was active when revoked becomes active again only if no other
        // version became active since (rotate_key after a revocation); otherwise it is retired.
        let was_active = Spi::get_one_with_args::<i32>(
            "SELECT max(version) FROM privacy.keyring WHERE name = $1 AND ($2::int IS NULL OR version = $2) \
             AND status = 'revoked' AND status_before_revoke = 'active'",
            &[name.into(), version.into()],
        )
        .map_err(spi_err)?;
        let changed = change_status(
            name,
            version,
            "status = CASE status_before_revoke WHEN 'active' THEN 'retired' ELSE status_before_revoke END, \
             status_before_revoke = NULL",
            "status = 'revoked'",
            true,
        )?;
        if let Some(v) = was_active {
            Spi::run_with_args(
                "UPDATE privacy.keyring SET status = 'active' WHERE name = $1 AND version = $2 \
                 AND NOT EXISTS (SELECT 1 FROM privacy.keyring WHERE name = $1 AND status = 'active')",
                &[name.into(), v.into()],
            )
            .map_err(spi_err)?;
        }
        Ok(changed)
    })
    .or_raise();
    if !changed.is_empty() {
        events::record(
            "KEY_RESTORE",
            Some(name),
            &format!("key \"{name}\" version {}", versions_text(&changed)),
        );
    }
}

#[pg_extern(sql = false)]
fn destroy_key(name: Option<&str>, version: Option<i32>) {
    let name = required(name, "the key name");
    let changed = elevated::run(|| {
        change_status(
            name,
            version,
            "status = 'destroyed', wrapped_key = NULL, wrapped_index_key = NULL, status_before_revoke = NULL",
            "status <> 'destroyed'",
            false,
        )
    })
    .or_raise();
    if !changed.is_empty() {
        events::record(
            "KEY_DESTROY",
            Some(name),
            &format!("key \"{name}\" version {}", versions_text(&changed)),
        );
    }
}

#[pg_extern(sql = false)]
fn rewrap_keys() -> i32 {
    let ring = root::keyring().or_raise();
    let active = ring.active();
    let count = elevated::run(|| {
        type Row = (i32, String, i32, Vec<u8>, Vec<u8>, String);
        let rows: Vec<Row> = Spi::connect_mut(|client| {
            let table = client.update(
                "SELECT id, name, version, wrapped_key, wrapped_index_key, root_key_id FROM privacy.keyring \
                 WHERE wrapped_key IS NOT NULL AND root_key_id <> $1 ORDER BY id FOR UPDATE",
                None,
                &[active.id().into()],
            )?;
            let mut out = Vec::new();
            for r in table {
                if let (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)) =
                    (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)
                {
                    out.push((a, b, c, d, e, f));
                }
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
        .map_err(spi_err)?;
        for (id, name, version, wrapped, wrapped_index, root_id) in &rows {
            let label = format!("{name}:{version}");
            let old_root = ring
                .get(root_id)
                .ok_or_else(|| PrivacyError::RootKeyMissing { root_id: root_id.clone(), key: label.clone() })?;
            let (id, version) = (*id as u32, *version as u32);
            let index_name = index_key_label(name);
            let corrupt = |_| PrivacyError::KeyCorrupt { key: label.clone() };
            let dek = unwrap_dek(old_root, id, name, version, wrapped).map_err(corrupt)?;
            let index_key = unwrap_dek(old_root, id, &index_name, version, wrapped_index).map_err(corrupt)?;
            Spi::run_with_args(
                "UPDATE privacy.keyring SET wrapped_key = $2, wrapped_index_key = $3, root_key_id = $4 WHERE id = $1",
                &[
                    (id as i32).into(),
                    wrap_dek(active, id, name, version, &dek).into(),
                    wrap_dek(active, id, &index_name, version, &index_key).into(),
                    active.id().into(),
                ],
            )
            .map_err(spi_err)?;
        }
        Ok(rows.len() as i32)
    })
    .or_raise();
    if count > 0 {
        events::record(
            "KEY_REWRAP",
            None,
            &format!("{count} data key(s) under root key \"{}\"", active.id()),
        );
    }
    count
}

#[pg_extern(sql = false)]
fn grant_decrypt(key_name: Option<&str>, grantee: Option<pg_sys::Oid>) {
    let key_name = required(key_name, "the key name");
    let grantee = required(grantee, "the grantee");
    let granted_by = elevated::role_name(elevated::caller());
    elevated::run(|| {
        require_key(key_name, None)?;
        Spi::run_with_args(
            "INSERT INTO privacy.decrypt_grants (key_name, grantee, grantee_name, granted_by) \
             SELECT $1, r.oid::regrole, r.rolname, $3 FROM pg_roles r WHERE r.oid = $2 \
             ON CONFLICT (key_name, grantee) DO UPDATE SET grantee_name = EXCLUDED.grantee_name",
            &[key_name.into(), grantee.into(), granted_by.as_str().into()],
        )
        .map_err(spi_err)
    })
    .or_raise();
    events::record(
        "GRANT_DECRYPT",
        Some(key_name),
        &format!("key \"{key_name}\" to {}", elevated::role_name(grantee)),
    );
}

#[pg_extern(sql = false)]
fn revoke_decrypt(key_name: Option<&str>, grantee: Option<pg_sys::Oid>) {
    let key_name = required(key_name, "the key name");
    let grantee = required(grantee, "the grantee");
    elevated::run(|| {
        require_key(key_name, None)?;
        Spi::run_with_args(
            "DELETE FROM privacy.decrypt_grants WHERE key_name = $1 AND grantee = $2::oid::regrole",
            &[key_name.into(), grantee.into()],
        )
        .map_err(spi_err)
    })
    .or_raise();
    events::record(
        "REVOKE_DECRYPT",
        Some(key_name),
        &format!("key \"{key_name}\" from {}", elevated::role_name(grantee)),
    );
}
