//! `bus migrate --to postgres://…`: copy a SQLite bus into an empty PostgreSQL database, so
//! that pointing `BUS_DB` at the URL continues the same bus.
//!
//! Copied: agents (role, owns, last seen, read cursor, session), messages with their ids,
//! receipts, state with versions and authors, live claims, HTTP tokens. Not copied: the
//! records of request keys (a call resent across a migration is new) and expired claims. The
//! whole copy is one transaction holding the write lock, and the database must have no bus
//! rows: a non-empty one is refused untouched.

use std::path::Path;

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};

use super::connect::Target;
use super::schema;

/// What was copied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub agents: u64,
    pub messages: u64,
    pub receipts: u64,
    pub state: u64,
    pub claims: u64,
    pub tokens: u64,
}

/// Copy the SQLite bus at `from` into the empty database `url`, at `now`.
pub fn migrate(from: &Path, url: &str, now: f64) -> anyhow::Result<Copied> {
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open the bus {}", from.display()))?;
    let version: i64 = src.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != crate::store::sqlite::SCHEMA_VERSION {
        bail!(
            "{} has schema version {version}, not {}: start busd on it once (any `bus` command does) to upgrade it, then migrate",
            from.display(),
            crate::store::sqlite::SCHEMA_VERSION
        );
    }
    let target = Target::parse(url)?;
    let server = target.server().to_owned();
    let mut pg = target
        .connect()
        .map_err(|e| anyhow::anyhow!("the database at {server} is unreachable: {e}"))?;
    schema::prepare(&mut pg, &server)?;
    let mut tx = pg.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&schema::LOCK_SPACE, &schema::WRITE_LOCK],
    )?;
    let rows: i64 = tx
        .query_one(
            "SELECT (SELECT COUNT(*) FROM agents) + (SELECT COUNT(*) FROM messages) \
             + (SELECT COUNT(*) FROM state) + (SELECT COUNT(*) FROM claims) \
             + (SELECT COUNT(*) FROM tokens)",
            &[],
        )?
        .get(0);
    if rows > 0 {
        bail!(
            "the database at {server} already holds a bus ({rows} rows): migrate into an empty database (it was left untouched)"
        );
    }
    let mut copied = Copied::default();
    let mut stmt = src.prepare(
        "SELECT name, role, owns, last_seen, last_read_id, session_id FROM agents ORDER BY name",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        let role: Option<String> = r.get(1)?;
        let owns: Option<String> = r.get(2)?;
        let seen: Option<f64> = r.get(3)?;
        let cursor: Option<i64> = r.get(4)?;
        let session: Option<String> = r.get(5)?;
        tx.execute(
            "INSERT INTO agents(name, role, owns, last_seen, last_read_id, session_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&name, &role, &owns, &seen, &cursor.unwrap_or(0), &session],
        )?;
        copied.agents += 1;
    }
    let mut stmt = src
        .prepare("SELECT id, ts, sender, recipient, content, reply_to FROM messages ORDER BY id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let ts: Option<f64> = r.get(1)?;
        let sender: Option<String> = r.get(2)?;
        let recipient: Option<String> = r.get(3)?;
        let content: Option<String> = r.get(4)?;
        let reply_to: Option<i64> = r.get(5)?;
        tx.execute(
            "INSERT INTO messages(id, ts, sender, recipient, content, reply_to) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&id, &ts, &sender, &recipient, &content, &reply_to],
        )?;
        copied.messages += 1;
    }
    // New messages continue after the copied ids (AUTOINCREMENT never reused one either).
    let next: i64 = src
        .query_row(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0), \
             COALESCE((SELECT MAX(id) FROM messages), 0))",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0);
    if next > 0 {
        tx.execute(
            "SELECT setval(pg_get_serial_sequence('messages', 'id'), $1)",
            &[&next],
        )?;
    }
    let mut stmt = src.prepare("SELECT message_id, recipient, read, read_ts FROM deliveries")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let recipient: String = r.get(1)?;
        let read: Option<i64> = r.get(2)?;
        let read_ts: Option<f64> = r.get(3)?;
        let read = i32::try_from(read.unwrap_or(0)).unwrap_or(1);
        tx.execute(
            "INSERT INTO deliveries(message_id, recipient, read, read_ts) VALUES ($1, $2, $3, $4)",
            &[&id, &recipient, &read, &read_ts],
        )?;
        copied.receipts += 1;
    }
    let mut stmt = src.prepare("SELECT key, value, version, updated_by, ts FROM state")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let key: String = r.get(0)?;
        let value: Option<String> = r.get(1)?;
        let version: Option<i64> = r.get(2)?;
        let by: Option<String> = r.get(3)?;
        let ts: Option<f64> = r.get(4)?;
        tx.execute(
            "INSERT INTO state(key, value, version, updated_by, ts) VALUES ($1, $2, $3, $4, $5)",
            &[&key, &value, &version.unwrap_or(1), &by, &ts],
        )?;
        copied.state += 1;
    }
    let mut stmt = src.prepare("SELECT path, owner, ts, ttl FROM claims WHERE ts + ttl >= ?1")?;
    let mut rows = stmt.query([now])?;
    while let Some(r) = rows.next()? {
        let path: String = r.get(0)?;
        let owner: Option<String> = r.get(1)?;
        let ts: f64 = r.get(2)?;
        let ttl: f64 = r.get(3)?;
        tx.execute(
            "INSERT INTO claims(path, owner, ts, ttl) VALUES ($1, $2, $3, $4)",
            &[&path, &owner, &ts, &ttl],
        )?;
        copied.claims += 1;
    }
    let mut stmt = src.prepare("SELECT name, role, digest, created, last_used FROM tokens")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        let role: Option<String> = r.get(1)?;
        let digest: String = r.get(2)?;
        let created: f64 = r.get(3)?;
        let used: Option<f64> = r.get(4)?;
        tx.execute(
            "INSERT INTO tokens(name, role, digest, created, last_used) VALUES ($1, $2, $3, $4, $5)",
            &[&name, &role, &digest, &created, &used],
        )?;
        copied.tokens += 1;
    }
    tx.commit()
        .with_context(|| format!("committing the copy into {server}"))?;
    Ok(copied)
}
