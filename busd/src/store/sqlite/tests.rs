//! The SQLite backend runs the conformance suite; and what only SQLite has: the recipient
//! index, legacy NULL columns, failed commits and a full disk, the WAL checkpoint, and the
//! `applied` records of older files.

use tempfile::TempDir;

use super::SqliteBackend;
use crate::store::conformance::{Bus, Rows, Subject, consume_w, key, send_w, set_w, suite};
use crate::store::{Backend, Keyed, Reads, Recorded, Register, StoreError};

/// A database file of its own in a temp folder.
pub(crate) struct SqliteSubject {
    dir: TempDir,
    pub(crate) db: SqliteBackend,
}

impl SqliteSubject {
    pub(crate) fn new() -> SqliteSubject {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteBackend::open(&dir.path().join("bus.db")).unwrap();
        SqliteSubject { dir, db }
    }

    fn count(&self, sql: &str) -> i64 {
        self.db.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

impl Subject for SqliteSubject {
    fn backend(&mut self) -> &mut dyn Backend {
        &mut self.db
    }

    fn cursor(&mut self, name: &str) -> i64 {
        self.db
            .conn
            .query_row(
                "SELECT COALESCE(MAX(last_read_id), 0) FROM agents WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn rows(&mut self, what: Rows) -> u64 {
        let table = match what {
            Rows::Receipts => "deliveries",
            Rows::Applied => "applied",
            Rows::Claims => "claims",
            Rows::Reservations => "temp.asks",
        };
        self.count(&format!("SELECT COUNT(*) FROM {table}"))
            .unsigned_abs()
    }

    fn restart(&mut self) {
        self.db.close().unwrap();
        self.db = SqliteBackend::open(&self.dir.path().join("bus.db")).unwrap();
    }
}

suite!(conformance, || Some(SqliteSubject::new()));

fn bus() -> Bus<SqliteSubject> {
    Bus::new(SqliteSubject::new())
}

fn count(bus: &Bus<SqliteSubject>, sql: &str) -> i64 {
    bus.subject.count(sql)
}

#[test]
fn legacy_null_columns_read_as_empty() {
    let mut bus = bus();
    bus.subject
        .db
        .conn
        .execute_batch(
            "INSERT INTO agents(name, role, owns, last_seen) VALUES ('old', NULL, NULL, NULL)",
        )
        .unwrap();
    bus.register_w(Register {
        name: "ann".into(),
        role: None,
        owns: None,
        session_id: Some("s1".into()),
        now: 3.0,
    })
    .unwrap();
    let agents = bus.db().agents().unwrap();
    let names: Vec<_> = agents
        .iter()
        .map(|a| (a.name.as_str(), a.role.as_str(), a.last_seen))
        .collect();
    assert_eq!(names, vec![("ann", "", 3.0), ("old", "", 0.0)]);
    assert_eq!(bus.db().counts(0.0).unwrap().agents, 2);
}

#[test]
fn inbox_queries_use_the_recipient_index() {
    let bus = bus();
    let plan: Vec<String> = {
        let mut stmt = bus
            .subject
            .db
            .conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM messages \
                 WHERE recipient = 'all' AND id > 5 AND sender IS NOT 'x'",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(
        plan.iter().any(|p| p.contains("messages_recipient")),
        "{plan:?}"
    );
}

/// Inbox cost does not grow with the table: `cargo test -p busd --lib store -- --ignored`.
#[test]
#[ignore = "slow: builds a million-message table"]
fn inbox_cost_is_flat_from_10k_to_1m_messages() {
    let mut bus = bus();
    let mut timings = Vec::new();
    for total in [10_000, 1_000_000] {
        bus.subject.db.conn.execute_batch("BEGIN").unwrap();
        let have = count(&bus, "SELECT COUNT(*) FROM messages");
        let mut insert = bus
            .subject
            .db
            .conn
            .prepare("INSERT INTO messages(ts, sender, recipient, content) VALUES (0, ?1, ?2, 'x')")
            .unwrap();
        for i in have..total {
            let to = ["all", "bob", "cid", "dan"][(i % 4) as usize];
            insert.execute(["ann", to]).unwrap();
        }
        drop(insert);
        bus.subject.db.conn.execute_batch("COMMIT").unwrap();
        bus.consume("bob", 1000);
        while !bus.consume("bob", 1000).messages.is_empty() {}
        bus.send("ann", "bob", "m");
        let started = std::time::Instant::now();
        for _ in 0..2000 {
            assert_eq!(bus.peek("bob", 100).pending, 1);
        }
        timings.push(started.elapsed());
        assert_eq!(bus.consume("bob", 100).messages.len(), 1);
    }
    eprintln!(
        "2000 peeks at 10k: {:?}, at 1M: {:?}",
        timings[0], timings[1]
    );
    assert!(timings[1] < timings[0] * 3, "{timings:?}");
}

#[test]
fn a_full_disk_fails_the_write_and_the_next_batch_works_again() {
    let mut bus = bus();
    bus.send("ann", "bob", "small");
    let pages = count(&bus, "PRAGMA page_count");
    bus.subject
        .db
        .conn
        .pragma_update(None, "max_page_count", pages)
        .unwrap();
    let big = "x".repeat(60 * 1024);
    let w = send_w(None, "ann", "bob", &big, 5.0);
    let failed = bus.batch(5.0, |tx| tx.send(&w)).and_then(|(sent, _)| sent);
    let Err(StoreError::Io(source)) = &failed else {
        panic!("{failed:?}")
    };
    let message = source.to_string();
    assert!(message.contains("full"), "{message}");
    assert!(
        source.get().downcast_ref::<rusqlite::Error>().is_some(),
        "the error keeps its source"
    );
    assert!(
        bus.subject.db.conn.is_autocommit(),
        "no transaction is left open"
    );
    // Reads keep working and the failed write left nothing.
    assert_eq!(bus.peek("bob", 10).messages.len(), 1);
    bus.subject
        .db
        .conn
        .pragma_update(None, "max_page_count", 1_000_000)
        .unwrap();
    let sent = bus.batch(5.0, |tx| tx.send(&w)).and_then(|(sent, _)| sent);
    assert!(sent.is_ok(), "{sent:?}");
    assert_eq!(bus.peek("bob", 10).messages.len(), 2);
}

#[test]
fn a_failed_commit_applies_nothing_and_leaves_the_connection_usable() {
    let mut bus = bus();
    // A deferred foreign key violated by every new message makes COMMIT itself fail.
    bus.subject
        .db
        .conn
        .execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TEMP TABLE parent(id INTEGER PRIMARY KEY);
             CREATE TEMP TABLE child(p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TEMP TRIGGER boom AFTER INSERT ON main.messages
                 BEGIN INSERT INTO child VALUES (42); END;",
        )
        .unwrap();
    let set = set_w("k", "v", None, false);
    let send = send_w(key(1), "ann", "bob", "lost", 5.0);
    let failed = bus.batch(5.0, |tx| (tx.set_state(&set), tx.send(&send)));
    assert!(matches!(failed, Err(StoreError::Io(_))), "{failed:?}");
    assert!(bus.subject.db.conn.is_autocommit());
    assert_eq!(bus.db().tail(None, 1).unwrap().last_id, 0);
    assert_eq!(bus.db().state(None, true), Ok(vec![]));
    bus.subject
        .db
        .conn
        .execute_batch("DROP TRIGGER temp.boom")
        .unwrap();
    let ((version, sent), _) = bus
        .batch(5.0, |tx| (tx.set_state(&set), tx.send(&send)))
        .unwrap();
    assert_eq!(version, Ok(1));
    assert!(sent.is_ok(), "the key was not recorded");
}

#[test]
fn close_checkpoints_the_wal() {
    let mut bus = bus();
    bus.send("ann", "bob", "m");
    let wal = bus.subject.dir.path().join("bus.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    bus.subject.db.close().unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
}

#[test]
fn a_record_from_before_commands_were_recorded_is_checked_by_its_shape() {
    let mut bus = bus();
    let m = bus.send("ann", "bob", "m");
    bus.subject
        .db
        .conn
        .execute(
            "INSERT INTO applied(client, request, outcome, at) VALUES ('client-1', 9, ?1, 1.0)",
            [m.id.to_string()],
        )
        .unwrap();
    // A bare id is a send's record (a consume's always lists messages after its count).
    assert!(matches!(
        bus.consume_m(consume_w(key(9), "bob", 10, 2.0)),
        Err(StoreError::KeyReused { first: None, .. })
    ));
    assert_eq!(bus.send_m(send_w(key(9), "ann", "bob", "m", 3.0)), Ok(m));
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM messages"), 1);
}

#[test]
fn a_v3_file_without_the_command_column_gains_it_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    drop(SqliteBackend::open(&path).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE applied;
             CREATE TABLE applied(client TEXT NOT NULL, request INTEGER NOT NULL,
                 outcome TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY(request, client)) WITHOUT ROWID;
             INSERT INTO applied VALUES ('client-1', 4, '2', 1.0);",
        )
        .unwrap();
    }
    let mut db = SqliteBackend::open(&path).unwrap();
    let command: Option<String> = db
        .conn
        .query_row("SELECT command FROM applied WHERE request = 4", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(command, None, "the old record is kept, its command unknown");
    assert_eq!(
        db.applied(&key(4).unwrap(), Keyed::SetState),
        Ok(Some(Recorded::Version(2)))
    );
}
