//! The PostgreSQL backend: a bus shared by the busd of several machines.
//!
//! Each busd's database thread owns one connection ([`Conn`]), and its read thread another
//! ([`Backend::reader`]); reads run as single statements, and a batch of writes is one transaction, each write in its own savepoint as in
//! SQLite, but for a send: one statement that refuses without writing anything, or fails and
//! takes the batch with it, needs none ([`replay::send_at_once`]). Every write transaction first takes one advisory lock ([`schema::WRITE_LOCK`]) for
//! its length, so the write transactions of all busd happen one after another: message ids
//! become visible in the order they were given (a reader's cursor never passes an id still to
//! commit), a consume sees every message committed before it, and two busd never deadlock.
//! A busd's group commit keeps the lock's cost to one turn per batch.
//!
//! The commit also `NOTIFY`s what it changed ([`notify`]), and [`Backend::watch_others`]
//! listens for the others' commits. A lost server fails the call at hand with
//! [`StoreError::Unreachable`], naming the server; the next call connects again.

mod connect;
mod migrate;
mod notify;
mod pgpass;
mod presence;
mod read;
mod replay;
mod reply;
mod schema;
#[cfg(test)]
mod tests;
mod tokens;
mod write;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Row, Statement};

pub use connect::Target;
pub use migrate::{Copied, migrate};

use super::reserved::Reserved;
use super::{
    AgentRow, Backend, Claim, ClaimRow, CommitListener, Committed, Consume, Counts,
    KEY_MEMORY_SECONDS, Keyed, MessageRow, MessageStatusRow, NewMessage, Page, Reads, Recorded,
    Register, Release, RequestKey, SetState, StateRow, StoreError, Tail, TakeReply, TokenCreate,
    TokenRow, Tx,
};

/// After a failed connection attempt, calls fail at once for this long instead of each
/// waiting for the server again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// Statement parameters.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// One connection and its prepared statements.
pub(crate) struct Conn {
    client: postgres::Client,
    statements: HashMap<String, Statement>,
    server: String,
}

impl Conn {
    fn new(client: postgres::Client, server: &str) -> Conn {
        Conn {
            client,
            statements: HashMap::new(),
            server: server.to_owned(),
        }
    }

    /// A refusal of the server stays a database error; a lost connection is `Unreachable`.
    fn fail(&self, e: postgres::Error) -> StoreError {
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        let lost = self.client.is_closed()
            || e.is_closed()
            || io
            || e.code().is_some_and(|code| {
                // Class 57 (operator intervention: shutdown, terminated), class 08 (connection).
                code.code().starts_with("57") || code.code().starts_with("08")
            });
        match lost {
            true => StoreError::unreachable(&self.server, ChainError(error_chain(&e))),
            false => StoreError::io(e),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(|e| self.fail(e))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub(crate) fn rows(&mut self, sql: &str, params: Params) -> Result<Vec<Row>, StoreError> {
        let s = self.statement(sql)?;
        self.client.query(&s, params).map_err(|e| self.fail(e))
    }

    pub(crate) fn opt(&mut self, sql: &str, params: Params) -> Result<Option<Row>, StoreError> {
        let s = self.statement(sql)?;
        self.client.query_opt(&s, params).map_err(|e| self.fail(e))
    }

    pub(crate) fn one(&mut self, sql: &str, params: Params) -> Result<Row, StoreError> {
        let s = self.statement(sql)?;
        self.client.query_one(&s, params).map_err(|e| self.fail(e))
    }

    pub(crate) fn exec(&mut self, sql: &str, params: Params) -> Result<u64, StoreError> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params).map_err(|e| self.fail(e))
    }

    /// Statements without parameters, in one round trip.
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).map_err(|e| self.fail(e))
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

pub struct PgBackend {
    target: Target,
    conn: Option<Conn>,
    /// This busd among those sharing the database: its notifications carry it.
    instance: String,
    /// This machine, as `agents` shows it.
    host: String,
    /// The last failed connection attempt, and its error.
    failed: Option<(Instant, StoreError)>,
    /// The names this busd's sessions hold ([`presence`]), taken again on a new connection.
    held: std::collections::BTreeSet<String>,
    /// The names holding reservations, which only the writer's connection has.
    reserved: Reserved,
    /// This is a reader: the reservations are not on its connection.
    reader: bool,
}

impl PgBackend {
    /// Connect to the database `url` names, creating or upgrading the schema. Fails (with the
    /// server's name and what to do) when it cannot be reached or is not a bus's.
    pub fn open(url: &str) -> anyhow::Result<PgBackend> {
        let target = Target::parse(url)?;
        let server = target.server().to_owned();
        let mut client = target.connect().map_err(|e| {
            let why = error_chain(&e);
            let advice = advice(&e, &why);
            anyhow::anyhow!("the shared bus database at {server} is unreachable: {why}: {advice}")
        })?;
        schema::prepare(&mut client, &server)?;
        let mut backend = PgBackend {
            instance: instance_id(),
            host: proto::host::machine_name(),
            conn: None,
            failed: None,
            held: Default::default(),
            reserved: Reserved::default(),
            reader: false,
            target,
        };
        backend.adopt(client)?;
        tracing::info!(server, "using the shared bus database");
        Ok(backend)
    }

    /// The name this machine goes by in `agents` (the host name unless told otherwise).
    pub fn on_host(mut self, host: String) -> PgBackend {
        self.host = host;
        self
    }

    /// Make `client` the backend's connection.
    fn adopt(&mut self, mut client: postgres::Client) -> Result<(), StoreError> {
        let server = self.target.server();
        client
            .batch_execute(schema::RESERVATIONS)
            .map_err(|e| StoreError::unreachable(server, e))?;
        let mut conn = Conn::new(client, server);
        // The holds went with the old connection: take them again. One another busd's
        // session took meanwhile stays theirs; ours learns of it when it registers again.
        let now = proto::time::now();
        for name in &self.held {
            match presence::hold(&mut conn, name, now) {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    name,
                    "a session on another machine took this name while the shared database was unreachable"
                ),
                Err(e) => return Err(e),
            }
        }
        self.conn = Some(conn);
        Ok(())
    }

    /// The connection, connecting again when it was lost.
    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.as_ref().is_some_and(Conn::is_closed) {
            self.conn = None;
        }
        if self.conn.is_none() {
            if let Some((at, e)) = &self.failed
                && at.elapsed() < RECONNECT_PAUSE
            {
                return Err(e.clone());
            }
            match self.target.connect() {
                Ok(client) => {
                    self.adopt(client)?;
                    self.failed = None;
                    tracing::info!(
                        server = self.target.server(),
                        "connected to the shared bus database again"
                    );
                }
                Err(e) => {
                    let e =
                        StoreError::unreachable(self.target.server(), ChainError(error_chain(&e)));
                    self.failed = Some((Instant::now(), e.clone()));
                    return Err(e);
                }
            }
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// After a transaction: which names hold reservations now (none on a new connection).
    fn note_reservations(&mut self) {
        if self.reserved.is_empty() {
            return;
        }
        let Some(c) = self.conn.as_mut().filter(|c| !c.is_closed()) else {
            self.reserved.replace(Default::default());
            return;
        };
        match c.rows("SELECT DISTINCT name FROM pg_temp.bus_asks", &[]) {
            Ok(rows) => self
                .reserved
                .replace(rows.iter().map(|r| r.get(0)).collect()),
            // Keep the names as they are: a name too many only sends its reads to the writer.
            Err(e) => tracing::warn!(error = %e, "could not list the reservations"),
        }
    }

    /// Run `read` on the connection; when the connection turns out lost (the server
    /// restarted since the last call), once more on a new one: a read changes nothing.
    fn read<T>(
        &mut self,
        read: impl Fn(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match read(self.conn()?) {
            Err(StoreError::Unreachable { .. }) if self.failed.is_none() => {
                self.conn = None;
                read(self.conn()?)
            }
            other => other,
        }
    }

    /// Open the write transaction, holding the write lock, and forget the request records
    /// past the replay window, in one round trip (its only values are numbers, written out);
    /// on a connection found lost, once more on a new one (nothing was applied yet).
    fn begin(&mut self, now: f64) -> Result<(), StoreError> {
        let sql = format!(
            "BEGIN; SELECT pg_advisory_xact_lock({}, {}); \
             DELETE FROM applied WHERE at < '{}'::float8",
            schema::LOCK_SPACE,
            schema::WRITE_LOCK,
            now - KEY_MEMORY_SECONDS
        );
        let begin = |c: &mut Conn| {
            let begun = c.batch(&sql);
            // A statement refused after BEGIN leaves the transaction open and aborted.
            if begun.is_err() && !c.is_closed() {
                let _ = c.batch("ROLLBACK");
            }
            begun
        };
        match begin(self.conn()?) {
            Err(StoreError::Unreachable { .. }) if self.failed.is_none() => {
                self.conn = None;
                begin(self.conn()?)
            }
            other => other,
        }
    }
}

impl Reads for PgBackend {
    fn knows_inbox(&self, name: &str) -> bool {
        !self.reader || !self.reserved.has(name)
    }

    fn peek(&mut self, name: &str, limit: u32) -> Result<Page, StoreError> {
        self.read(|c| read::peek(c, name, limit))
    }

    fn agents(&mut self) -> Result<Vec<AgentRow>, StoreError> {
        self.read(read::agents)
    }

    fn resolve(&mut self, session_id: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| read::resolve(c, session_id))
    }

    fn message_status(&mut self, id: i64) -> Result<MessageStatusRow, StoreError> {
        self.read(|c| read::status(c, id))
    }

    fn state(&mut self, key: Option<&str>, with_values: bool) -> Result<Vec<StateRow>, StoreError> {
        self.read(|c| read::state(c, key, with_values))
    }

    fn claims(&mut self, now: f64) -> Result<Vec<ClaimRow>, StoreError> {
        self.read(|c| read::claims(c, now))
    }

    fn tail(&mut self, after: Option<i64>, limit: u32) -> Result<Tail, StoreError> {
        self.read(|c| read::tail(c, after, limit))
    }

    fn counts(&mut self, now: f64) -> Result<Counts, StoreError> {
        self.read(|c| read::counts(c, now))
    }

    fn applied(&mut self, key: &RequestKey, kind: Keyed) -> Result<Option<Recorded>, StoreError> {
        self.read(|c| replay::recorded(c, key, kind))
    }

    fn thread(&mut self, name: &str, id: i64) -> Result<Page, StoreError> {
        self.read(|c| reply::thread(c, name, id))
    }

    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        self.read(tokens::all)
    }
}

impl Backend for PgBackend {
    /// A connection of its own, made on the first read (and again when lost, as the writer's).
    fn reader(&mut self) -> Option<Box<dyn Reads>> {
        Some(Box::new(PgBackend {
            target: self.target.clone(),
            conn: None,
            instance: self.instance.clone(),
            host: self.host.clone(),
            failed: None,
            held: Default::default(),
            reserved: self.reserved.clone(),
            reader: true,
        }))
    }

    fn transaction(
        &mut self,
        now: f64,
        writes: &mut dyn FnMut(&mut dyn Tx),
    ) -> Result<Vec<Committed>, StoreError> {
        self.begin(now)?;
        let host = self.host.clone();
        let instance = self.instance.clone();
        let c = self.conn.as_mut().expect("begin connected");
        let mut tx = PgTx {
            c,
            host: &host,
            reserved: &self.reserved,
            events: Vec::new(),
            failed: None,
        };
        writes(&mut tx);
        let PgTx { events, failed, .. } = tx;
        let result = match failed {
            Some(e) => Err(e),
            None => notify_and_commit(c, &instance, &events).map(|()| events),
        };
        if result.is_err()
            && !c.is_closed()
            && let Err(e) = c.batch("ROLLBACK")
        {
            tracing::error!(error = %e, "rollback failed");
            self.conn = None;
        }
        self.note_reservations();
        result
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.conn = None;
        Ok(())
    }

    fn hold(&mut self, name: &str, now: f64) -> Result<bool, StoreError> {
        if self.held.contains(name) {
            return Ok(true);
        }
        let got = self.read(|c| presence::hold(c, name, now))?;
        if got {
            self.held.insert(name.to_owned());
        }
        Ok(got)
    }

    fn let_go(&mut self, name: &str) -> Result<(), StoreError> {
        if self.held.remove(name) {
            self.read(|c| presence::let_go(c, name))?;
        }
        Ok(())
    }

    fn held_elsewhere(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        self.read(presence::held_elsewhere)
    }

    fn watch_others(&mut self, listener: Box<dyn CommitListener>) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(notify::listen(
                    self.target.clone(),
                    self.instance.clone(),
                    listener,
                ));
            }
            Err(_) => tracing::warn!(
                "no tokio runtime: commits of other busd will not wake this busd's readers"
            ),
        }
    }
}

/// The notifications and the `COMMIT` in one round trip: a failed `pg_notify` stops the
/// statements after it, so the transaction is then rolled back, never committed.
fn notify_and_commit(c: &mut Conn, instance: &str, events: &[Committed]) -> Result<(), StoreError> {
    let mut sql = String::new();
    for payload in notify::payloads(instance, events) {
        sql.push_str(&format!(
            "SELECT pg_notify({}, {}); ",
            literal(notify::CHANNEL),
            literal(&payload)
        ));
    }
    sql.push_str("COMMIT");
    c.batch(&sql)
}

/// `text` as an SQL string literal, whatever `standard_conforming_strings` says: an `E''`
/// string, its backslashes and quotes escaped.
fn literal(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// The open transaction: each write in its own savepoint.
struct PgTx<'c> {
    c: &'c mut Conn,
    host: &'c str,
    /// Told of each ask before it commits.
    reserved: &'c Reserved,
    events: Vec<Committed>,
    /// The error that ended the whole transaction (the connection lost, a failed savepoint).
    failed: Option<StoreError>,
}

impl PgTx<'_> {
    fn savepoint<T>(
        &mut self,
        write: impl FnOnce(&mut Conn, &str) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Err(e) = self.c.batch("SAVEPOINT w") {
            self.failed = Some(e.clone());
            return Err(e);
        }
        let outcome = write(self.c, self.host);
        let end = match outcome {
            Ok(_) => "RELEASE SAVEPOINT w",
            Err(_) => "ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w",
        };
        if let Err(e) = self.c.batch(end) {
            self.failed = Some(e.clone());
            return Err(e);
        }
        if let Err(e @ StoreError::Unreachable { .. }) = &outcome {
            self.failed = Some(e.clone());
        }
        outcome
    }

    /// A write that needs no savepoint: one statement that either refuses without writing
    /// (the inner error) or fails, ending the whole transaction (the outer error: every later
    /// write of the batch fails with it, and the batch is rolled back).
    fn at_once<T>(
        &mut self,
        write: impl FnOnce(&mut Conn) -> Result<Result<T, StoreError>, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        write(self.c).unwrap_or_else(|e| {
            self.failed = Some(e.clone());
            Err(e)
        })
    }

    fn sent(&mut self, m: &MessageRow) {
        self.events.push(Committed::Message {
            id: m.id,
            recipient: m.recipient.clone(),
        });
    }
}

impl Tx for PgTx<'_> {
    fn register(&mut self, w: &Register) -> Result<(AgentRow, u64), StoreError> {
        let registered = self.savepoint(|c, host| write::register(c, w, host))?;
        self.events.push(Committed::Agent {
            name: w.name.clone(),
        });
        Ok(registered)
    }

    fn touch(&mut self, name: &str, now: f64) -> Result<(), StoreError> {
        self.savepoint(|c, _| write::touch(c, name, now))
    }

    fn send(&mut self, w: &NewMessage) -> Result<MessageRow, StoreError> {
        // A text PostgreSQL refuses (a NUL) fails its statement: only a savepoint spares the
        // batch then.
        let nul = [&w.sender, &w.to, &w.content]
            .into_iter()
            .chain(w.key.as_ref().map(|k| &k.client))
            .any(|text| text.contains('\0'));
        let (m, fresh) = match nul {
            false => self.at_once(|c| replay::send_at_once(c, w))?,
            true => self.savepoint(|c, _| replay::send(c, w, false))?,
        };
        if fresh {
            self.sent(&m);
        }
        Ok(m)
    }

    fn ask(&mut self, w: &NewMessage) -> Result<MessageRow, StoreError> {
        self.reserved.add(&w.sender);
        let (m, fresh) = self.savepoint(|c, _| replay::send(c, w, true))?;
        if fresh {
            self.sent(&m);
        }
        Ok(m)
    }

    fn consume(&mut self, w: &Consume) -> Result<Page, StoreError> {
        self.savepoint(|c, _| replay::consume(c, w))
    }

    fn set_state(&mut self, w: &SetState) -> Result<i64, StoreError> {
        let (version, fresh) = self.savepoint(|c, _| replay::set_state(c, w))?;
        if fresh {
            self.events.push(Committed::State {
                key: w.state_key.clone(),
                version,
            });
        }
        Ok(version)
    }

    fn claim(&mut self, w: &Claim) -> Result<ClaimRow, StoreError> {
        let (claim, fresh) = self.savepoint(|c, _| replay::claim(c, w))?;
        if fresh {
            self.events.push(Committed::Claim {
                path: w.path.clone(),
            });
        }
        Ok(claim)
    }

    fn release(&mut self, w: &Release) -> Result<bool, StoreError> {
        let (released, fresh) = self.savepoint(|c, _| replay::release(c, w))?;
        if fresh && released {
            self.events.push(Committed::Claim {
                path: w.path.clone(),
            });
        }
        Ok(released)
    }

    fn take_reply(&mut self, w: &TakeReply) -> Result<Option<MessageRow>, StoreError> {
        self.savepoint(|c, _| reply::take(c, w))
    }

    fn mark_read(&mut self, name: &str, id: i64, now: f64) -> Result<(), StoreError> {
        self.savepoint(|c, _| write::mark_read(c, name, id, now))
    }

    fn token_create(&mut self, w: &TokenCreate) -> Result<(), StoreError> {
        self.savepoint(|c, _| tokens::create(c, w))
    }

    fn token_revoke(&mut self, name: &str) -> Result<bool, StoreError> {
        self.savepoint(|c, _| tokens::revoke(c, name))
    }

    fn token_used(&mut self, name: &str, now: f64) -> Result<(), StoreError> {
        self.savepoint(|c, _| tokens::used(c, name, now))
    }
}

/// A random id for this busd among those sharing a database.
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// An error and its causes on one line (the client crate's errors hide the cause from
/// `Display`: "error connecting to server" alone says little).
/// What to check when busd could not connect, from what went wrong.
fn advice(e: &postgres::Error, why: &str) -> &'static str {
    if e.as_db_error().is_some() {
        // The server answered, and refused: who connects, or to what.
        "check the user, password and database name in BUS_DB (or ~/.pgpass), and that the server's pg_hba.conf lets this machine in"
    } else if why.contains("certificate") {
        "the server's certificate did not pass BUS_DB's sslmode: trust the CA that signed it (sslrootcert=/path/to/ca.pem), connect by the name it was issued for, or use sslmode=require to encrypt without checking"
    } else {
        "check BUS_DB and that the server runs"
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// An error already worded (see [`error_chain`]).
#[derive(Debug)]
struct ChainError(String);

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ChainError {}
