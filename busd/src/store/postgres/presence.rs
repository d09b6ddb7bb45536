//! Presence across machines: a name held by a session of one busd is refused on every other.
//!
//! The hold is a session-level advisory lock on the database thread's connection, keyed by the
//! agent's id (`agents.id`): PostgreSQL itself ends it with that connection, so when a busd
//! dies (killed, its machine gone: TCP keepalives on both sides notice within seconds) its
//! names are free again without anyone acting, and no heartbeat table needs polling. Who holds
//! what is read from `pg_locks`.

use super::Conn;
use super::schema::LOCK_SPACE;
use crate::store::StoreError;

/// Take `name` for this connection; `false` when another connection holds it.
pub(super) fn hold(c: &mut Conn, name: &str, now: f64) -> Result<bool, StoreError> {
    c.exec(
        "INSERT INTO agents(name, role, owns, last_seen, last_read_id) \
         VALUES ($1, '', NULL, $2, 0) ON CONFLICT(name) DO NOTHING",
        &[&name, &now],
    )?;
    let id: i64 = c
        .one("SELECT id FROM agents WHERE name = $1", &[&name])?
        .get(0);
    // Agents' ids count from 1, far below 2^31 (the lock's second key is an int4).
    let key = i32::try_from(id).map_err(StoreError::io)?;
    let got: bool = c
        .one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_SPACE, &key])?
        .get(0);
    Ok(got)
}

/// Let go of `name` (held once by this connection).
pub(super) fn let_go(c: &mut Conn, name: &str) -> Result<(), StoreError> {
    c.exec(
        "SELECT pg_advisory_unlock($1, id::INTEGER) FROM agents WHERE name = $2",
        &[&LOCK_SPACE, &name],
    )?;
    Ok(())
}

/// The names other connections hold, with the host their busd registered them from.
pub(super) fn held_elsewhere(c: &mut Conn) -> Result<Vec<(String, String)>, StoreError> {
    let rows = c.rows(
        "SELECT a.name, COALESCE(a.host, '') FROM agents a JOIN pg_locks l \
         ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
         AND l.classid::BIGINT = $1 AND l.objid::BIGINT = a.id \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND l.pid <> pg_backend_pid() ORDER BY a.name",
        &[&i64::from(LOCK_SPACE)],
    )?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
