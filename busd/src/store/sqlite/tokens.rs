//! The `tokens` table: one HTTP token per name, kept as the digest of its secret.

use rusqlite::Connection;

use crate::store::{StoreError, TokenCreate, TokenRow};

pub(super) fn all(c: &Connection) -> Result<Vec<TokenRow>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT name, role, digest, created, last_used FROM tokens ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(TokenRow {
            name: r.get(0)?,
            role: r.get(1)?,
            digest: r.get(2)?,
            created: r.get(3)?,
            last_used: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn create(c: &Connection, w: &TokenCreate) -> Result<(), StoreError> {
    let inserted = c
        .prepare_cached(
            "INSERT INTO tokens(name, role, digest, created) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(name) DO NOTHING",
        )?
        .execute((&w.name, &w.role, &w.digest, w.now))?;
    match inserted {
        0 => Err(StoreError::TokenExists(w.name.clone())),
        _ => Ok(()),
    }
}

pub(super) fn revoke(c: &Connection, name: &str) -> Result<bool, StoreError> {
    let removed = c
        .prepare_cached("DELETE FROM tokens WHERE name = ?1")?
        .execute([name])?;
    Ok(removed > 0)
}

pub(super) fn used(c: &Connection, name: &str, now: f64) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE tokens SET last_used = ?2 WHERE name = ?1")?
        .execute((name, now))?;
    Ok(())
}
