//! The SQLite backend: one connection for the writes, owned by the database thread, and a
//! second one for the reads ([`Backend::reader`]): in WAL mode a reader sees every
//! transaction once it is synced, and neither waits for the other.
//!
//! A transaction is one `BEGIN IMMEDIATE … COMMIT` (one fsync for the whole batch) with each
//! write inside its own savepoint, so a refused write leaves no trace and does not disturb the
//! others. Keyed writes record a compact form of their outcome in the `applied` table in the
//! same savepoint; a repeated key replays it ([`replay`]). The schema, its upgrades from the
//! Python claude-bus files, and the checks of the files before SQLite opens them are this
//! backend's own ([`schema`], [`files`], [`wal`]).

mod files;
mod read;
mod replay;
mod reply;
mod schema;
#[cfg(test)]
mod tests;
mod tokens;
mod wal;
mod write;

pub(crate) use schema::SCHEMA_VERSION;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::reserved::Reserved;
use super::{
    AgentRow, Backend, Claim, ClaimRow, Committed, Consume, Counts, KEY_MEMORY_SECONDS, Keyed,
    MessageRow, MessageStatusRow, NewMessage, Page, Reads, Recorded, Register, Release, RequestKey,
    SetState, StateRow, StoreError, Tail, TakeReply, TokenCreate, TokenRow, Tx,
};

/// A connection to the database: the writer's, or a reader's.
pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
    /// The names holding reservations, which only the writer's connection has.
    reserved: Reserved,
    /// This is a reader: the reservations are not on its connection.
    reader: bool,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::io(e)
    }
}

impl SqliteBackend {
    /// Open (creating or upgrading) the database at `path`. The folder must exist. Before
    /// SQLite sees them, the database's files must be private to busd's user (a missing
    /// database is created `0600`) and a WAL must not be damaged in a way SQLite would
    /// silently drop; a refused file is left untouched.
    pub fn open(path: &Path) -> anyhow::Result<SqliteBackend> {
        files::prepare(path)?;
        wal::check(path)?;
        let conn = schema::open(path)?;
        conn.execute_batch(reply::RESERVATIONS)?;
        Ok(SqliteBackend {
            conn,
            path: path.to_owned(),
            reserved: Reserved::default(),
            reader: false,
        })
    }

    /// After a transaction: which names hold reservations now.
    fn note_reservations(&self) -> Result<(), StoreError> {
        if self.reserved.is_empty() {
            return Ok(());
        }
        let names = self
            .conn
            .prepare_cached("SELECT DISTINCT name FROM temp.asks")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        self.reserved.replace(names);
        Ok(())
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

impl Reads for SqliteBackend {
    fn knows_inbox(&self, name: &str) -> bool {
        !self.reader || !self.reserved.has(name)
    }

    fn quick(&self) -> bool {
        true
    }

    fn peek(&mut self, name: &str, limit: u32) -> Result<Page, StoreError> {
        read::peek(&self.conn, name, limit)
    }

    fn agents(&mut self) -> Result<Vec<AgentRow>, StoreError> {
        read::agents(&self.conn)
    }

    fn resolve(&mut self, session_id: &str) -> Result<Option<String>, StoreError> {
        read::resolve(&self.conn, session_id)
    }

    fn message_status(&mut self, id: i64) -> Result<MessageStatusRow, StoreError> {
        read::status(&self.conn, id)
    }

    fn state(&mut self, key: Option<&str>, with_values: bool) -> Result<Vec<StateRow>, StoreError> {
        read::state(&self.conn, key, with_values)
    }

    fn claims(&mut self, now: f64) -> Result<Vec<ClaimRow>, StoreError> {
        read::claims(&self.conn, now)
    }

    fn tail(&mut self, after: Option<i64>, limit: u32) -> Result<Tail, StoreError> {
        read::tail(&self.conn, after, limit)
    }

    fn counts(&mut self, now: f64) -> Result<Counts, StoreError> {
        read::counts(&self.conn, now)
    }

    fn applied(&mut self, key: &RequestKey, kind: Keyed) -> Result<Option<Recorded>, StoreError> {
        replay::recorded(&self.conn, key, kind)
    }

    fn thread(&mut self, name: &str, id: i64) -> Result<Page, StoreError> {
        reply::thread(&self.conn, name, id)
    }

    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        tokens::all(&self.conn)
    }
}

impl Backend for SqliteBackend {
    /// A read-only connection of its own, with an empty reservations table (so the inbox
    /// queries it shares with the writer run there too). Only in WAL mode: with a rollback
    /// journal a reader would wait for every commit, which is what it is for to avoid.
    fn reader(&mut self) -> Option<Box<dyn Reads>> {
        let wal = self
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))
            .is_ok_and(|mode| mode.eq_ignore_ascii_case("wal"));
        if !wal {
            return None;
        }
        let opened = schema::open_reader(&self.path).and_then(|conn| {
            conn.execute_batch(reply::RESERVATIONS)?;
            conn.pragma_update(None, "query_only", true)?;
            Ok(conn)
        });
        match opened {
            Ok(conn) => Some(Box::new(SqliteBackend {
                conn,
                path: self.path.clone(),
                reserved: self.reserved.clone(),
                reader: true,
            })),
            Err(e) => {
                tracing::warn!(error = %e, "no connection of their own for the reads: they wait for the writes");
                None
            }
        }
    }

    fn transaction(
        &mut self,
        now: f64,
        writes: &mut dyn FnMut(&mut dyn Tx),
    ) -> Result<Vec<Committed>, StoreError> {
        let result = exec(&self.conn, "BEGIN IMMEDIATE").and_then(|()| {
            self.conn
                .prepare_cached("DELETE FROM applied WHERE at < ?1")?
                .execute([now - KEY_MEMORY_SECONDS])?;
            let mut tx = SqliteTx {
                c: &self.conn,
                reserved: &self.reserved,
                events: Vec::new(),
                failed: None,
            };
            writes(&mut tx);
            match tx.failed {
                Some(e) => Err(e),
                None => exec(&self.conn, "COMMIT").map(|()| tx.events),
            }
        });
        if result.is_err() {
            self.rollback();
        }
        if let Err(e) = self.note_reservations() {
            // Keep the names as they are: a name too many only sends its reads to the writer.
            tracing::warn!(error = %e, "could not list the reservations");
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

/// The open transaction: each write in its own savepoint.
struct SqliteTx<'c> {
    c: &'c Connection,
    /// Told of each ask before it commits.
    reserved: &'c Reserved,
    /// What the writes applied so far committed, once the transaction does.
    events: Vec<Committed>,
    /// The error that ended the whole transaction (SQLite rolled it back: disk full, I/O).
    failed: Option<StoreError>,
}

impl SqliteTx<'_> {
    /// Run `write` in a savepoint: rolled back to on a refusal, which spares the others.
    fn savepoint<T>(
        &mut self,
        write: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let c = self.c;
        let result = exec(c, "SAVEPOINT w").and_then(|()| {
            let outcome = write(c);
            if outcome.is_err() && !c.is_autocommit() {
                exec(c, "ROLLBACK TO w")?;
            }
            if !c.is_autocommit() {
                exec(c, "RELEASE w")?;
            }
            outcome
        });
        if let Err(e) = &result
            && c.is_autocommit()
        {
            // SQLite rolled the whole transaction back (disk full, I/O error).
            self.failed = Some(e.clone());
        }
        result
    }

    /// A message the transaction appended, for the readers it concerns.
    fn sent(&mut self, m: &MessageRow) {
        self.events.push(Committed::Message {
            id: m.id,
            recipient: m.recipient.clone(),
        });
    }
}

impl Tx for SqliteTx<'_> {
    fn register(&mut self, w: &Register) -> Result<(AgentRow, u64), StoreError> {
        let registered = self.savepoint(|c| write::register(c, w))?;
        self.events.push(Committed::Agent {
            name: w.name.clone(),
        });
        Ok(registered)
    }

    fn touch(&mut self, name: &str, now: f64) -> Result<(), StoreError> {
        self.savepoint(|c| write::touch(c, name, now))
    }

    fn send(&mut self, w: &NewMessage) -> Result<MessageRow, StoreError> {
        let (m, fresh) = self.savepoint(|c| replay::send(c, w, false))?;
        if fresh {
            self.sent(&m);
        }
        Ok(m)
    }

    fn ask(&mut self, w: &NewMessage) -> Result<MessageRow, StoreError> {
        self.reserved.add(&w.sender);
        let (m, fresh) = self.savepoint(|c| replay::send(c, w, true))?;
        if fresh {
            self.sent(&m);
        }
        Ok(m)
    }

    fn consume(&mut self, w: &Consume) -> Result<Page, StoreError> {
        self.savepoint(|c| replay::consume(c, w))
    }

    fn set_state(&mut self, w: &SetState) -> Result<i64, StoreError> {
        let (version, fresh) = self.savepoint(|c| replay::set_state(c, w))?;
        if fresh {
            self.events.push(Committed::State {
                key: w.state_key.clone(),
                version,
            });
        }
        Ok(version)
    }

    fn claim(&mut self, w: &Claim) -> Result<ClaimRow, StoreError> {
        let (claim, fresh) = self.savepoint(|c| replay::claim(c, w))?;
        if fresh {
            self.events.push(Committed::Claim {
                path: w.path.clone(),
            });
        }
        Ok(claim)
    }

    fn release(&mut self, w: &Release) -> Result<bool, StoreError> {
        let (released, fresh) = self.savepoint(|c| replay::release(c, w))?;
        if fresh && released {
            self.events.push(Committed::Claim {
                path: w.path.clone(),
            });
        }
        Ok(released)
    }

    fn take_reply(&mut self, w: &TakeReply) -> Result<Option<MessageRow>, StoreError> {
        self.savepoint(|c| reply::take(c, w))
    }

    fn mark_read(&mut self, name: &str, id: i64, now: f64) -> Result<(), StoreError> {
        self.savepoint(|c| write::mark_read(c, name, id, now))
    }

    fn token_create(&mut self, w: &TokenCreate) -> Result<(), StoreError> {
        self.savepoint(|c| tokens::create(c, w))
    }

    fn token_revoke(&mut self, name: &str) -> Result<bool, StoreError> {
        self.savepoint(|c| tokens::revoke(c, name))
    }

    fn token_used(&mut self, name: &str, now: f64) -> Result<(), StoreError> {
        self.savepoint(|c| tokens::used(c, name, now))
    }
}

fn exec(c: &Connection, sql: &str) -> Result<(), StoreError> {
    c.prepare_cached(sql)?.execute([])?;
    Ok(())
}
