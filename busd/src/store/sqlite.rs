//! The SQLite backend: one connection, owned by the database thread.
//!
//! A batch of writes is one `BEGIN IMMEDIATE … COMMIT` transaction (one fsync for the whole
//! batch) with each write inside its own savepoint, so a refused write leaves no trace and
//! does not disturb the others. Keyed writes record a compact form of their outcome in the
//! `applied` table in the same savepoint; a repeated key replays it ([`replay`]).

mod files;
mod read;
mod replay;
mod reply;
#[cfg(test)]
mod tests;
mod tokens;
mod wal;
mod write;

use std::path::Path;

use rusqlite::Connection;

use super::{Backend, Outcome, Read, StoreError, Write};

/// How long an applied request key is remembered: far longer than a client retries.
const KEY_MEMORY_SECONDS: f64 = 600.0;

pub struct SqliteBackend {
    conn: Connection,
}

impl SqliteBackend {
    /// Open (creating or upgrading) the database at `path`. The folder must exist. Before
    /// SQLite sees them, the database's files must be private to busd's user (a missing
    /// database is created `0600`) and a WAL must not be damaged in a way SQLite would
    /// silently drop; a refused file is left untouched.
    pub fn open(path: &Path) -> anyhow::Result<SqliteBackend> {
        files::prepare(path)?;
        wal::check(path)?;
        let conn = super::schema::open(path)?;
        conn.execute_batch(reply::RESERVATIONS)?;
        Ok(SqliteBackend { conn })
    }

    fn apply_all(&self, writes: &[Write]) -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        let c = &self.conn;
        let now = writes.iter().map(now_of).fold(f64::MIN, f64::max);
        c.prepare_cached("DELETE FROM applied WHERE at < ?1")?
            .execute([now - KEY_MEMORY_SECONDS])?;
        let mut outcomes = Vec::with_capacity(writes.len());
        for w in writes {
            exec(c, "SAVEPOINT w")?;
            let outcome = replay::apply(c, w);
            if let Err(e) = &outcome {
                if c.is_autocommit() {
                    // SQLite rolled the whole transaction back (disk full, I/O error).
                    return Err(e.clone());
                }
                exec(c, "ROLLBACK TO w")?;
            }
            exec(c, "RELEASE w")?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// End a failed transaction so the connection is usable for the next batch.
    fn rollback(&self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %e, "rollback failed");
        }
    }
}

impl Backend for SqliteBackend {
    fn read(&mut self, read: &Read) -> Result<Outcome, StoreError> {
        read::read(&self.conn, read)
    }

    fn write(&mut self, writes: &[Write]) -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        exec(&self.conn, "BEGIN IMMEDIATE")?;
        let result = self
            .apply_all(writes)
            .and_then(|outcomes| exec(&self.conn, "COMMIT").map(|()| outcomes));
        if result.is_err() {
            self.rollback();
        }
        result
    }

    fn close(&mut self) -> Result<(), StoreError> {
        let (busy, log, done): (i64, i64, i64) =
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
        if busy != 0 {
            tracing::warn!(
                log,
                done,
                "the WAL checkpoint was blocked by another reader"
            );
        }
        Ok(())
    }
}

fn exec(c: &Connection, sql: &str) -> Result<(), StoreError> {
    c.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn now_of(w: &Write) -> f64 {
    match w {
        Write::Register { now, .. }
        | Write::Touch { now, .. }
        | Write::Send { now, .. }
        | Write::Ask { now, .. }
        | Write::Consume { now, .. }
        | Write::SetState { now, .. }
        | Write::Claim { now, .. }
        | Write::Release { now, .. }
        | Write::TakeReply { now, .. }
        | Write::TokenCreate { now, .. }
        | Write::TokenRevoke { now, .. }
        | Write::TokenUsed { now, .. } => *now,
    }
}
