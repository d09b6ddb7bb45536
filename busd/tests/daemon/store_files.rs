//! Database files through the storage API: creating, upgrading Python claude-bus v1 and v2
//! fixtures in place, and refusing newer, foreign and corrupt files untouched.

use std::path::Path;

use busd::store::sqlite::SqliteBackend;
use busd::store::{
    Backend, ClaimRow, Consume, NewMessage, Page, Reads, Register, StoreError, Tail, Tx,
};
use rusqlite::Connection;

use crate::common::{PYTHON_V1, PYTHON_V2, dump, fixture, user_version};

/// Open, run `f`, close as the daemon does, and return what the file then holds.
fn with_backend(path: &Path, f: impl FnOnce(&mut SqliteBackend)) -> String {
    let mut db = SqliteBackend::open(path).unwrap();
    f(&mut db);
    db.close().unwrap();
    drop(db);
    dump(path)
}

/// One write in a transaction of its own, which must commit.
fn one<T>(
    db: &mut SqliteBackend,
    now: f64,
    write: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut write = Some(write);
    let mut answer = None;
    db.transaction(now, &mut |tx| answer = write.take().map(|w| w(tx)))
        .unwrap();
    answer.unwrap()
}

fn page_ids(page: Result<Page, StoreError>) -> (Vec<i64>, u64) {
    let page = page.unwrap();
    (page.messages.iter().map(|m| m.id).collect(), page.pending)
}

fn consume(db: &mut SqliteBackend, name: &str) -> Result<Page, StoreError> {
    let w = Consume {
        key: None,
        name: name.into(),
        limit: 100,
        now: 300.0,
    };
    one(db, w.now, |tx| tx.consume(&w))
}

#[test]
fn a_fresh_file_is_created_at_version_3_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["new.db", "empty.db"] {
        let path = dir.path().join(name);
        if name == "empty.db" {
            std::fs::write(&path, b"").unwrap();
        }
        let first = with_backend(&path, |_| {});
        assert_eq!(user_version(&path), 3);
        let c = Connection::open(&path).unwrap();
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(c);
        assert!(first.contains("index messages_recipient"), "{first}");
        assert_eq!(with_backend(&path, |_| {}), first);
    }
}

#[test]
fn python_v1_keeps_state_and_agents_and_drops_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    fixture(&path, PYTHON_V1);
    let first = with_backend(&path, |db| {
        let state = db.state(None, true).unwrap();
        let state: Vec<_> = state
            .iter()
            .map(|s| {
                (
                    s.key.as_str(),
                    s.value.as_str(),
                    s.updated_by.as_str(),
                    s.updated_at,
                    s.version,
                )
            })
            .collect();
        assert_eq!(
            state,
            vec![
                ("empty", "", "bob", 101.0, 1),
                ("plan", "step 1\nstep 2", "ann", 100.5, 1)
            ]
        );
        let agents = db.agents().unwrap();
        let agents: Vec<_> = agents
            .iter()
            .map(|a| (a.name.as_str(), a.role.as_str(), a.last_seen))
            .collect();
        assert_eq!(agents, vec![("ann", "api", 100.0), ("bob", "", 99.0)]);
        assert_eq!(db.tail(None, 1), Ok(Tail::default()));
        assert_eq!(page_ids(consume(db, "bob")), (vec![], 0));
        // The upgraded file takes new mail and new versions.
        let send = NewMessage {
            key: None,
            sender: "ann".into(),
            to: "bob".into(),
            content: "new".into(),
            reply_to: None,
            now: 301.0,
        };
        let m = one(db, send.now, |tx| tx.send(&send)).unwrap();
        assert_eq!(page_ids(consume(db, "bob")), (vec![m.id], 0));
    });
    assert_eq!(user_version(&path), 3);
    assert_eq!(
        with_backend(&path, |_| {}),
        first,
        "a second open changes nothing"
    );
}

#[test]
fn python_v2_keeps_everything_with_cursors_and_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    fixture(&path, PYTHON_V2);
    let upgraded = with_backend(&path, |_| {});
    assert_eq!(user_version(&path), 3);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        with_backend(&path, |_| {}),
        upgraded,
        "a second open changes nothing"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "not a byte");

    let mut db = SqliteBackend::open(&path).unwrap();
    let agents = db.agents().unwrap();
    let agents: Vec<_> = agents
        .iter()
        .map(|a| (a.name.as_str(), a.role.as_str(), a.owns.clone()))
        .collect();
    assert_eq!(
        agents,
        vec![
            ("ann", "api", vec!["src/api/**".to_string()]),
            ("bob", "web", vec![]),
            ("cid", "", vec![])
        ]
    );
    let state = db.state(Some("plan"), true).unwrap();
    assert_eq!(
        (
            state[0].value.as_str(),
            state[0].updated_by.as_str(),
            state[0].version
        ),
        ("third draft", "ann", 3)
    );
    assert_eq!(
        db.claims(2000.0),
        Ok(vec![ClaimRow {
            path: "src/api/x.rs".into(),
            owner: "ann".into(),
            expires_at: 1_001_000.0
        }])
    );
    // Receipts survive: message 2 was read by ann and cid.
    let s = db.message_status(2).unwrap();
    let readers: Vec<_> = s
        .readers
        .iter()
        .map(|r| (r.recipient.as_str(), r.read_ts))
        .collect();
    assert_eq!(
        (readers, s.unread),
        (vec![("ann", 206.0), ("cid", 207.0)], vec![])
    );
    // Cursors survive: each agent gets exactly what it had not read.
    assert_eq!(page_ids(consume(&mut db, "ann")), (vec![3, 4], 0));
    assert_eq!(page_ids(consume(&mut db, "bob")), (vec![5], 0));
    assert_eq!(page_ids(consume(&mut db, "cid")), (vec![5], 0));
    // A Python receipt row left unread becomes a read receipt.
    let s = db.message_status(3).unwrap();
    assert_eq!(
        (s.readers[0].recipient.as_str(), s.readers[0].read_ts),
        ("ann", 300.0)
    );
    // New columns work: a session id resolves.
    let register = Register {
        name: "bob".into(),
        role: None,
        owns: None,
        session_id: Some("s-bob".into()),
        now: 301.0,
    };
    one(&mut db, register.now, |tx| tx.register(&register)).unwrap();
    assert_eq!(db.resolve("s-bob"), Ok(Some("bob".into())));
}

#[test]
fn an_upgrade_reads_through_a_wal_that_was_not_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    // A Python process still holds the file, its last writes only in the WAL.
    let python = Connection::open(&path).unwrap();
    python
        .execute_batch(&format!("PRAGMA wal_autocheckpoint = 0; {PYTHON_V2}"))
        .unwrap();
    assert!(
        std::fs::metadata(dir.path().join("bus.db-wal"))
            .unwrap()
            .len()
            > 0
    );
    let mut db = SqliteBackend::open(&path).unwrap();
    assert_eq!(page_ids(consume(&mut db, "ann")), (vec![3, 4], 0));
    drop(db);
    drop(python);
    assert_eq!(user_version(&path), 3);
}

#[test]
fn a_failed_upgrade_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    // A v2 file with an `applied` table of the wrong shape: the index on it cannot be built.
    fixture(&path, &format!("{PYTHON_V2}\nCREATE TABLE applied(x);"));
    let before = dump(&path);
    assert!(SqliteBackend::open(&path).is_err());
    assert_eq!(dump(&path), before, "the upgrade is one transaction");
    assert_eq!(user_version(&path), 2);
}

/// Open must fail, name the file, say `words`, and leave the folder exactly as it was.
fn refused(path: &Path, words: &[&str]) {
    let listing = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = (
        std::fs::read(path).unwrap(),
        listing(path.parent().unwrap()),
    );
    let message = format!("{:#}", SqliteBackend::open(path).err().expect("refused"));
    assert!(message.contains(&path.display().to_string()), "{message}");
    for w in words {
        assert!(message.contains(w), "{message:?} lacks {w:?}");
    }
    let after = (
        std::fs::read(path).unwrap(),
        listing(path.parent().unwrap()),
    );
    assert!(before == after, "{path:?} was touched");
}

#[test]
fn a_newer_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let odd = "odd name ?#%é.db";
    for (name, mode) in [("wal.db", "WAL"), ("delete.db", "DELETE"), (odd, "WAL")] {
        let path = dir.path().join(name);
        fixture(
            &path,
            &format!(
            "PRAGMA journal_mode = {mode}; CREATE TABLE agents(name TEXT PRIMARY KEY, future BLOB);
             INSERT INTO agents VALUES ('ann', x'00'); PRAGMA user_version = 4;"
        ),
        );
        refused(&path, &["version 4", "version 3", "update claude-bus"]);
    }
}

#[test]
fn garbage_and_foreign_files_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, "this is not a database\n".repeat(500)).unwrap();
    refused(&garbage, &["not a usable SQLite database"]);
    let foreign = dir.path().join("foreign.db");
    fixture(
        &foreign,
        "CREATE TABLE users(id INTEGER PRIMARY KEY); INSERT INTO users VALUES (1);",
    );
    refused(&foreign, &["not a claude-bus database", "users"]);
}
