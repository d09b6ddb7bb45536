//! The SQLite schema: opening a database file, creating it, and upgrading older ones in place.
//!
//! Versions (`PRAGMA user_version`): 0 with a `messages.read` column is the Python claude-bus
//! 0.1 (v1); 2 is the Python claude-bus 0.2 (v2); 3 is ours: v2 plus additive changes only
//! (`agents.session_id`, an inbox index, a reply index, the `applied` table of request keys and
//! later its `command` column, added in place to a v3 file that lacks it, and the `tokens`
//! table of the HTTP front, created in a v3 file that lacks it), so the upgrade
//! keeps every v2 row and a v2 reader still finds the tables it knows.
//!
//! A file is probed read-only before anything may write to it: one that is not a database, or
//! that a newer claude-bus wrote, is refused and left exactly as it was.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};

/// The schema version this binary writes and understands.
pub(crate) const SCHEMA_VERSION: i64 = 3;

/// How long a statement waits for a lock held by another process (a Python claude-bus).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Every table of any claude-bus version; a file with other tables is not ours.
const KNOWN_TABLES: [&str; 7] = [
    "agents",
    "messages",
    "deliveries",
    "state",
    "claims",
    "applied",
    "tokens",
];

/// The v3 tables and indexes, each created only when missing. Columns that v2 lacks are added
/// by [`add_missing_columns`] before this runs.
const CREATE_V3: &str = "
CREATE TABLE IF NOT EXISTS agents(name TEXT PRIMARY KEY, role TEXT, owns TEXT,
    last_seen REAL, last_read_id INTEGER DEFAULT 0, session_id TEXT);
CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL,
    sender TEXT, recipient TEXT, content TEXT, reply_to INTEGER);
CREATE TABLE IF NOT EXISTS deliveries(message_id INTEGER, recipient TEXT,
    read INTEGER DEFAULT 0, read_ts REAL, PRIMARY KEY(message_id, recipient));
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT, version INTEGER DEFAULT 1,
    updated_by TEXT, ts REAL);
CREATE TABLE IF NOT EXISTS claims(path TEXT PRIMARY KEY, owner TEXT, ts REAL, ttl REAL);
CREATE TABLE IF NOT EXISTS applied(client TEXT NOT NULL, request INTEGER NOT NULL,
    outcome TEXT NOT NULL, at REAL NOT NULL, command TEXT,
    PRIMARY KEY(request, client)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS applied_at ON applied(at);
CREATE TABLE IF NOT EXISTS tokens(name TEXT PRIMARY KEY, role TEXT, digest TEXT NOT NULL,
    created REAL NOT NULL, last_used REAL);
CREATE INDEX IF NOT EXISTS agents_session ON agents(session_id);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages(recipient, id);
CREATE INDEX IF NOT EXISTS messages_reply_to ON messages(reply_to) WHERE reply_to IS NOT NULL;
";

/// Columns added since the first version of their table: (table, column, declaration).
const ADDED_COLUMNS: [(&str, &str, &str); 5] = [
    ("state", "version", "INTEGER DEFAULT 1"),
    ("agents", "owns", "TEXT"),
    ("agents", "last_read_id", "INTEGER DEFAULT 0"),
    ("agents", "session_id", "TEXT"),
    // The command a request key was used for; NULL in rows written before it was recorded.
    ("applied", "command", "TEXT"),
];

/// What a file held before we opened it for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No file, an empty file, or a database without tables.
    Fresh,
    /// Python claude-bus 0.1: its messages are dropped.
    V1,
    /// An older claude-bus schema whose rows are all kept (`user_version` is the number).
    Older(i64),
    Current,
}

/// Open the database at `path` for the daemon: create it, or upgrade it in place, and apply
/// the connection settings. Refuses (touching nothing) a file that is not a claude-bus
/// database or that a newer claude-bus wrote.
pub(crate) fn open(path: &Path) -> anyhow::Result<Connection> {
    let found = probe(path)?;
    let conn = Connection::open(path)
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    configure(&conn, path)?;
    upgrade(&conn, path, found)
        .with_context(|| format!("cannot prepare the database {}", path.display()))?;
    Ok(conn)
}

/// A second connection to the database `open` prepared, for reads only: the same settings
/// but for the journal mode and the sync, which are the writer's.
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    tune(&conn)?;
    Ok(conn)
}

/// Classify the file without writing to it.
fn probe(path: &Path) -> anyhow::Result<Found> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Fresh),
        Err(e) => return Err(e).with_context(|| format!("cannot read the database {shown}")),
        Ok(meta) if meta.len() == 0 => return Ok(Found::Fresh),
        Ok(_) => {}
    }
    let not_ours = |e: rusqlite::Error| {
        anyhow::anyhow!(
            "{shown} is not a usable SQLite database ({e}): move it away or set BUS_DB to another \
             file (it was left untouched)"
        )
    };
    let conn = open_read_only(path).map_err(not_ours)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(not_ours)?;
    let tables = tables(&conn).map_err(not_ours)?;
    if version > SCHEMA_VERSION {
        bail!(
            "{shown} has schema version {version}, newer than the version {SCHEMA_VERSION} this \
             claude-bus understands: update claude-bus (the file was left untouched)"
        );
    }
    let strangers: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|t| !KNOWN_TABLES.contains(t))
        .collect();
    if version < 0 || !strangers.is_empty() {
        bail!(
            "{shown} is not a claude-bus database (schema version {version}, unknown tables \
             {strangers:?}): move it away or set BUS_DB to another file (it was left untouched)"
        );
    }
    // A file whose header and schema read fine may still have damaged pages: serving it would
    // fail later, request by request. `quick_check` reads every page once, without writing.
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(not_ours)?;
    if check != "ok" {
        let check = check.lines().collect::<Vec<_>>().join("; ");
        bail!(
            "{shown} is damaged ({check}): restore it from a backup, or move it away or set BUS_DB \
             to another file (it was left untouched)"
        );
    }
    Ok(match version {
        SCHEMA_VERSION => Found::Current,
        _ if tables.is_empty() => Found::Fresh,
        0 if has_column(&conn, "messages", "read").map_err(not_ours)? => Found::V1,
        v => Found::Older(v),
    })
}

/// A read-only connection that leaves no trace: when no journal or WAL file waits beside the
/// database, the file is opened `immutable` (so SQLite does not create `-wal`/`-shm` files for
/// a WAL-mode database); otherwise read-only with locking, to see what the journal holds.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let beside = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        Path::new(&name).exists()
    };
    match path.to_str() {
        Some(text) if !beside("-wal") && !beside("-journal") => Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_escape(text)),
            flags | OpenFlags::SQLITE_OPEN_URI,
        ),
        _ => Connection::open_with_flags(path, flags),
    }
}

/// Percent-encode what a `file:` URI path must not carry as is.
fn uri_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Connection settings: WAL, a synced commit (an acknowledged write survives a power cut),
/// a busy timeout, room for the hot statements in the cache, and one plan per statement
/// whatever its parameters (the query planner stability guarantee): otherwise a plan that
/// looked at a bound value (a partial index's condition, range statistics) is compiled again
/// every time a new value is bound — the inbox's query was, on every call.
fn configure(conn: &Connection, path: &Path) -> anyhow::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "the database could not switch to WAL");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    tune(conn)?;
    Ok(())
}

/// Room for the hot statements in the cache, and one plan per statement.
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(64);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Bring the schema to [`SCHEMA_VERSION`] in one transaction. Idempotent: on a current file
/// it writes nothing.
fn upgrade(conn: &Connection, path: &Path, found: Found) -> anyhow::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = upgrade_in_transaction(conn, path, found);
    let result = result.and_then(|()| Ok(conn.execute_batch("COMMIT")?));
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn upgrade_in_transaction(conn: &Connection, path: &Path, found: Found) -> anyhow::Result<()> {
    let from = match found {
        Found::Fresh => None,
        Found::V1 => Some(1),
        Found::Older(v) => Some(v),
        Found::Current => Some(SCHEMA_VERSION),
    };
    match from {
        None => tracing::info!(path = %path.display(), "creating the database"),
        Some(SCHEMA_VERSION) => {}
        Some(from) => {
            tracing::info!(path = %path.display(), from, to = SCHEMA_VERSION, "upgrading the database");
        }
    }
    if found == Found::V1 {
        // The v1 read model (one `read` flag per message) cannot be mapped to read cursors.
        let dropped: i64 = conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
        conn.execute_batch("DROP TABLE messages")?;
        tracing::info!(dropped, "dropped the messages of the v1 database");
    }
    add_missing_columns(conn)?;
    conn.execute_batch(CREATE_V3)?;
    if found != Found::Current {
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    let present = tables(conn)?;
    for (table, column, declaration) in ADDED_COLUMNS {
        if present.iter().any(|t| t == table) && !has_column(conn, table, column)? {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {declaration}"
            ))?;
        }
    }
    Ok(())
}

/// The user tables of the database, sorted.
fn tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
         ESCAPE '\\' ORDER BY name",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}
