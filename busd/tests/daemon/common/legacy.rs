//! Database files as the Python claude-bus wrote them (schema v1 and v2), and a comparable
//! dump of a file: the fixtures of the storage and the end-to-end upgrade tests.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

/// A claude-bus 0.1 file: `messages.read` flags, state without versions, no `user_version`.
pub const PYTHON_V1: &str = "
CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL, sender TEXT, recipient TEXT,
    content TEXT, read INTEGER DEFAULT 0);
CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT, updated_by TEXT, ts REAL);
CREATE TABLE agents(name TEXT PRIMARY KEY, role TEXT, last_seen REAL);
INSERT INTO messages(ts, sender, recipient, content, read) VALUES
    (90.0, 'ann', 'bob', 'old news', 1), (91.0, 'bob', 'all', 'old broadcast', 0);
INSERT INTO state VALUES ('plan', 'step 1
step 2', 'ann', 100.5), ('empty', '', 'bob', 101.0);
INSERT INTO agents VALUES ('ann', 'api', 100.0), ('bob', NULL, 99.0);
";

/// A claude-bus 0.2 file (`user_version = 2`): read cursors, receipts, versioned state, claims.
///
/// Messages: 1 ann→bob, 2 bob→all, 3 cid→ann (reply to 1), 4 bob→ann, 5 ann→all. Cursors: ann
/// and bob read up to 2, cid up to 4. Receipts: bob read 1; ann and cid read 2; ann has an
/// unread delivery row for 3. Both claims expired long ago.
pub const PYTHON_V2: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE agents(name TEXT PRIMARY KEY, role TEXT, owns TEXT, last_seen REAL,
    last_read_id INTEGER DEFAULT 0);
CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL, sender TEXT,
    recipient TEXT, content TEXT, reply_to INTEGER);
CREATE TABLE deliveries(message_id INTEGER, recipient TEXT, read INTEGER DEFAULT 0, read_ts REAL,
    PRIMARY KEY(message_id, recipient));
CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT, version INTEGER DEFAULT 1,
    updated_by TEXT, ts REAL);
CREATE TABLE claims(path TEXT PRIMARY KEY, owner TEXT, ts REAL, ttl REAL);
INSERT INTO agents VALUES ('ann', 'api', '[\"src/api/**\"]', 200.0, 2),
    ('bob', 'web', NULL, 210.0, 2), ('cid', '', '[]', 190.0, 4);
INSERT INTO messages(ts, sender, recipient, content, reply_to) VALUES
    (201.0, 'ann', 'bob', 'q1', NULL), (202.0, 'bob', 'all', 'hello', NULL),
    (203.0, 'cid', 'ann', 'for ann', 1), (204.0, 'bob', 'ann', 'second', NULL),
    (205.0, 'ann', 'all', 'bye', NULL);
INSERT INTO deliveries VALUES (1, 'bob', 1, 205.0), (2, 'ann', 1, 206.0), (2, 'cid', 1, 207.0),
    (3, 'ann', 0, NULL);
INSERT INTO state VALUES ('plan', 'third draft', 3, 'ann', 150.0), ('notes', 'n', 1, 'bob', 151.0);
INSERT INTO claims VALUES ('src/api/x.rs', 'ann', 1000.0, 1000000.0), ('old.rs', 'bob', 0.0, 1.0);
PRAGMA user_version = 2;
";

/// Write a file by running `sql` on it.
pub fn fixture(path: &Path, sql: &str) {
    Connection::open(path).unwrap().execute_batch(sql).unwrap();
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
