//! The `tokens` table: one HTTP token per name, kept as the digest of its secret.

use super::Conn;
use crate::store::{StoreError, TokenCreate, TokenRow};

pub(super) fn all(c: &mut Conn) -> Result<Vec<TokenRow>, StoreError> {
    let rows = c.rows(
        "SELECT name, role, digest, created, last_used FROM tokens ORDER BY name",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| TokenRow {
            name: r.get(0),
            role: r.get(1),
            digest: r.get(2),
            created: r.get(3),
            last_used: r.get(4),
        })
        .collect())
}

pub(super) fn create(c: &mut Conn, w: &TokenCreate) -> Result<(), StoreError> {
    let inserted = c.exec(
        "INSERT INTO tokens(name, role, digest, created) VALUES ($1, $2, $3, $4) \
         ON CONFLICT(name) DO NOTHING",
        &[&w.name, &w.role, &w.digest, &w.now],
    )?;
    match inserted {
        0 => Err(StoreError::TokenExists(w.name.clone())),
        _ => Ok(()),
    }
}

pub(super) fn revoke(c: &mut Conn, name: &str) -> Result<bool, StoreError> {
    Ok(c.exec("DELETE FROM tokens WHERE name = $1", &[&name])? > 0)
}

pub(super) fn used(c: &mut Conn, name: &str, now: f64) -> Result<(), StoreError> {
    c.exec(
        "UPDATE tokens SET last_used = $2 WHERE name = $1",
        &[&name, &now],
    )?;
    Ok(())
}
