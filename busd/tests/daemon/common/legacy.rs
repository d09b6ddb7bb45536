//! Database files as the Python claude-bus wrote them (schema v1 and v2), and a comparable
//! dump of a file, for the end-to-end upgrade tests.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

/// When the Python sessions were last active: long ago, so they show as offline.
pub const LONG_AGO: f64 = 1_700_000_000.0;

/// A claude-bus 0.1 file: `messages.read` flags, state without versions, no `user_version`.
pub fn python_v1(path: &Path) {
    let sql = format!(
        "CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL, sender TEXT,
             recipient TEXT, content TEXT, read INTEGER DEFAULT 0);
         CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT, updated_by TEXT, ts REAL);
         CREATE TABLE agents(name TEXT PRIMARY KEY, role TEXT, last_seen REAL);
         INSERT INTO messages(ts, sender, recipient, content, read) VALUES
             ({t}, 'ann', 'bob', 'old news', 1), ({t}, 'bob', 'all', 'old broadcast', 0);
         INSERT INTO state VALUES ('plan', 'step 1\nstep 2', 'ann', {t}), ('empty', '', 'bob', {t});
         INSERT INTO agents VALUES ('ann', 'api', {t}), ('bob', NULL, {t});",
        t = LONG_AGO
    );
    Connection::open(path).unwrap().execute_batch(&sql).unwrap();
}

/// A claude-bus 0.2 file (`user_version = 2`) with read cursors, receipts, versioned state and
/// a claim on `src/api/x.rs` live until `live_until`.
///
/// Messages: 1 ann→bob, 2 bob→all, 3 cid→ann (reply to 1), 4 bob→ann, 5 ann→all. Cursors: ann
/// read up to 2, bob up to 1, cid nothing. Receipts: bob read 1, ann read 2.
pub fn python_v2(path: &Path, live_until: f64) {
    let sql = format!(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE agents(name TEXT PRIMARY KEY, role TEXT, owns TEXT, last_seen REAL,
             last_read_id INTEGER DEFAULT 0);
         CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL, sender TEXT,
             recipient TEXT, content TEXT, reply_to INTEGER);
         CREATE TABLE deliveries(message_id INTEGER, recipient TEXT, read INTEGER DEFAULT 0,
             read_ts REAL, PRIMARY KEY(message_id, recipient));
         CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT, version INTEGER DEFAULT 1,
             updated_by TEXT, ts REAL);
         CREATE TABLE claims(path TEXT PRIMARY KEY, owner TEXT, ts REAL, ttl REAL);
         INSERT INTO agents VALUES ('ann', 'api', '[\"src/api/**\"]', {t}, 2),
             ('bob', 'web', NULL, {t}, 1), ('cid', '', '[]', {t}, 0);
         INSERT INTO messages(ts, sender, recipient, content, reply_to) VALUES
             ({t}, 'ann', 'bob', 'q1', NULL), ({t}, 'bob', 'all', 'hello', NULL),
             ({t}, 'cid', 'ann', 'for ann', 1), ({t}, 'bob', 'ann', 'second', NULL),
             ({t}, 'ann', 'all', 'bye', NULL);
         INSERT INTO deliveries VALUES (1, 'bob', 1, {t} + 1), (2, 'ann', 1, {t} + 2);
         INSERT INTO state VALUES ('plan', 'third draft', 3, 'ann', {t}), ('notes', 'n', 1, 'bob', {t});
         INSERT INTO claims VALUES ('src/api/x.rs', 'ann', {t}, {ttl}), ('old.rs', 'bob', {t}, 1);
         PRAGMA user_version = 2;",
        t = LONG_AGO,
        ttl = live_until - LONG_AGO
    );
    let c = Connection::open(path).unwrap();
    c.execute_batch(&sql).unwrap();
    // Leave the rows in the main file, as a Python session that exited would.
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
}

/// A file stamped with a schema version newer than any claude-bus knows.
pub fn newer_schema(path: &Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT);
         INSERT INTO state VALUES ('k', 'v');
         PRAGMA user_version = 99;",
    )
    .unwrap();
}

/// The file's `user_version`.
pub fn user_version(path: &Path) -> i64 {
    read_only(path)
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

/// Everything a file holds, comparable: version, schema, and every table's rows, sorted.
pub fn dump(path: &Path) -> String {
    let c = read_only(path);
    let mut out = format!("user_version {}\n", user_version(path));
    let mut stmt = c
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    let schema: Vec<(String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (kind, name, sql) in &schema {
        out += &format!("{kind} {name}: {sql:?}\n");
        if kind != "table" {
            continue;
        }
        let mut rows = c.prepare(&format!("SELECT * FROM \"{name}\"")).unwrap();
        let columns = rows.column_count();
        let mut lines: Vec<String> = rows
            .query_map([], |r| {
                let values: Vec<Value> =
                    (0..columns).map(|i| r.get(i)).collect::<Result<_, _>>()?;
                Ok(format!("  {values:?}\n"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        lines.sort();
        out.extend(lines);
    }
    out
}

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}
