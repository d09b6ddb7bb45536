//! The PostgreSQL schema: created and upgraded by busd itself, one busd at a time.
//!
//! The version lives in `bus_meta` (`schema_version`). Every busd of a team opens the same
//! database, often at the same moment (a fleet booting): the check and the upgrade run under
//! a session-level advisory lock ([`MIGRATION_LOCK`]), so one creates the tables and the
//! others find them. A database of a newer version is refused, untouched.
//!
//! The tables are the SQLite schema's, with PostgreSQL's types, the text keys in the `C`
//! collation (ordered bytewise, as SQLite orders them) and what presence across machines
//! needs: a stable number per agent (its advisory lock key) and the host of its session.

use anyhow::{Context, bail};

/// The schema version this binary writes and understands.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// The first key of every advisory lock of claude-bus ("bus" in ASCII); the second says which.
pub(crate) const LOCK_SPACE: i32 = 0x0062_7573;
/// Second key: held while the schema is checked or upgraded.
pub(crate) const MIGRATION_LOCK: i32 = -1;
/// Second key: held by every write transaction for its length (see `transaction`).
pub(crate) const WRITE_LOCK: i32 = 0;
// Second keys from 1 up are agents' ids: presence (`presence.rs`).

/// The tables of claude-bus; a database holding any of them is not empty.
pub(crate) const TABLES: [&str; 8] = [
    "bus_meta",
    "agents",
    "messages",
    "deliveries",
    "state",
    "claims",
    "applied",
    "tokens",
];

const CREATE: &str = r#"
CREATE TABLE bus_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE agents(name TEXT COLLATE "C" PRIMARY KEY, id BIGSERIAL UNIQUE,
    role TEXT, owns TEXT, last_seen DOUBLE PRECISION, last_read_id BIGINT DEFAULT 0,
    session_id TEXT, host TEXT);
CREATE TABLE messages(id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION,
    sender TEXT COLLATE "C", recipient TEXT COLLATE "C", content TEXT, reply_to BIGINT);
CREATE TABLE deliveries(message_id BIGINT, recipient TEXT COLLATE "C",
    read INTEGER DEFAULT 0, read_ts DOUBLE PRECISION, PRIMARY KEY(message_id, recipient));
CREATE TABLE state(key TEXT COLLATE "C" PRIMARY KEY, value TEXT, version BIGINT DEFAULT 1,
    updated_by TEXT, ts DOUBLE PRECISION);
CREATE TABLE claims(path TEXT COLLATE "C" PRIMARY KEY, owner TEXT, ts DOUBLE PRECISION,
    ttl DOUBLE PRECISION);
CREATE TABLE applied(client TEXT NOT NULL, request BIGINT NOT NULL, outcome TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL, command TEXT, PRIMARY KEY(request, client));
CREATE INDEX applied_at ON applied(at);
CREATE TABLE tokens(name TEXT COLLATE "C" PRIMARY KEY, role TEXT, digest TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL, last_used DOUBLE PRECISION);
CREATE INDEX agents_session ON agents(session_id);
CREATE INDEX messages_recipient ON messages(recipient, id);
CREATE INDEX messages_reply_to ON messages(reply_to) WHERE reply_to IS NOT NULL;
"#;

/// The reservations of replies for waiting asks: the connection's own (see `reply.rs`).
pub(crate) const RESERVATIONS: &str = "CREATE TEMP TABLE IF NOT EXISTS bus_asks(\
    name TEXT COLLATE \"C\" NOT NULL, message_id BIGINT NOT NULL, holders INTEGER NOT NULL, \
    PRIMARY KEY(name, message_id))";

/// Bring the database to [`SCHEMA_VERSION`], or refuse it; `server` names it in messages.
pub(crate) fn prepare(c: &mut postgres::Client, server: &str) -> anyhow::Result<()> {
    c.execute(
        "SELECT pg_advisory_lock($1, $2)",
        &[&LOCK_SPACE, &MIGRATION_LOCK],
    )
    .with_context(|| {
        format!("waiting for the schema lock of the shared bus database at {server}")
    })?;
    let result = prepare_locked(c, server);
    let unlock = c.execute(
        "SELECT pg_advisory_unlock($1, $2)",
        &[&LOCK_SPACE, &MIGRATION_LOCK],
    );
    result?;
    unlock.context("releasing the schema lock")?;
    Ok(())
}

fn prepare_locked(c: &mut postgres::Client, server: &str) -> anyhow::Result<()> {
    match version(c)? {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(v) if v > SCHEMA_VERSION => bail!(
            "the shared bus database at {server} has schema version {v}, newer than the version \
             {SCHEMA_VERSION} this claude-bus understands: update claude-bus on this machine (the \
             database was left untouched)"
        ),
        Some(v) => bail!(
            "the shared bus database at {server} has schema version {v}, which this claude-bus \
             cannot upgrade: restore it from a backup or point BUS_DB at a new database"
        ),
        None => {
            let strangers = present_tables(c)?;
            if !strangers.is_empty() {
                bail!(
                    "the database at {server} has tables of claude-bus ({}) but no schema version: \
                     it is not a bus this claude-bus wrote; point BUS_DB at an empty database",
                    strangers.join(", ")
                );
            }
            tracing::info!(server, "creating the shared bus schema");
            let mut tx = c.transaction()?;
            tx.batch_execute(CREATE)
                .with_context(|| format!("creating the bus's tables in {server}"))?;
            tx.execute(
                "INSERT INTO bus_meta(key, value) VALUES ('schema_version', $1)",
                &[&SCHEMA_VERSION.to_string()],
            )?;
            tx.commit()?;
            Ok(())
        }
    }
}

/// The schema version, `None` for a database without claude-bus's tables.
fn version(c: &mut postgres::Client) -> anyhow::Result<Option<i64>> {
    let exists: bool = c
        .query_one("SELECT to_regclass('bus_meta') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = c.query_opt(
        "SELECT value FROM bus_meta WHERE key = 'schema_version'",
        &[],
    )?;
    let Some(row) = row else { return Ok(Some(0)) };
    let text: String = row.get(0);
    Ok(Some(text.parse().with_context(|| {
        format!("the bus's schema version {text:?} is not a number")
    })?))
}

/// Which of claude-bus's tables the database holds.
pub(crate) fn present_tables(c: &mut postgres::Client) -> anyhow::Result<Vec<String>> {
    let mut present = Vec::new();
    for table in TABLES {
        let exists: bool = c
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])?
            .get(0);
        if exists {
            present.push(table.to_owned());
        }
    }
    Ok(present)
}
