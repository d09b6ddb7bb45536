//! Storage tests through the public API: opening and upgrading database files (Python
//! claude-bus v1 and v2 fixtures, newer and foreign files), and the database thread's group
//! commit under many concurrent writers.

use std::path::Path;
use std::sync::{Arc, Mutex};

use busd::store::sqlite::SqliteBackend;
use busd::store::{
    Backend, ClaimRow, CommitListener, Committed, Db, Outcome, Page, Read, RequestKey, StoreError,
    Write,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

/// Everything a file holds, in a comparable form: version, schema, rows.
fn dump(path: &Path) -> String {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let mut out = format!("user_version {version}\n");
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

fn fixture(path: &Path, sql: &str) {
    Connection::open(path).unwrap().execute_batch(sql).unwrap();
}

/// Open, run `f`, close as the daemon does, and return what the file then holds.
fn with_backend(path: &Path, f: impl FnOnce(&mut SqliteBackend)) -> String {
    let mut db = SqliteBackend::open(path).unwrap();
    f(&mut db);
    db.close().unwrap();
    drop(db);
    dump(path)
}

fn one(db: &mut SqliteBackend, w: Write) -> Result<Outcome, StoreError> {
    db.write(&[w]).unwrap().pop().unwrap()
}

const PYTHON_V1: &str = "
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

const PYTHON_V2: &str = "
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

fn user_version(path: &Path) -> i64 {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

fn page_ids(outcome: Result<Outcome, StoreError>) -> (Vec<i64>, u64) {
    match outcome {
        Ok(Outcome::Page(page)) => (page.messages.iter().map(|m| m.id).collect(), page.pending),
        other => panic!("{other:?}"),
    }
}

fn consume(name: &str) -> Write {
    Write::Consume {
        key: None,
        name: name.into(),
        limit: 100,
        now: 300.0,
    }
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
        let Ok(Outcome::State(state)) = db.read(&Read::State {
            key: None,
            with_values: true,
        }) else {
            panic!()
        };
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
        let Ok(Outcome::Agents(agents)) = db.read(&Read::Agents) else {
            panic!()
        };
        let agents: Vec<_> = agents
            .iter()
            .map(|a| (a.name.as_str(), a.role.as_str(), a.last_seen))
            .collect();
        assert_eq!(agents, vec![("ann", "api", 100.0), ("bob", "", 99.0)]);
        assert_eq!(
            db.read(&Read::Tail {
                after: None,
                limit: 1
            }),
            Ok(Outcome::Tail(vec![], 0))
        );
        assert_eq!(page_ids(one(db, consume("bob"))), (vec![], 0));
        // The upgraded file takes new mail and new versions.
        let Ok(Outcome::Message(m)) = one(
            db,
            Write::Send {
                key: None,
                sender: "ann".into(),
                to: "bob".into(),
                content: "new".into(),
                reply_to: None,
                now: 301.0,
            },
        ) else {
            panic!()
        };
        assert_eq!(page_ids(one(db, consume("bob"))), (vec![m.id], 0));
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
    let Ok(Outcome::Agents(agents)) = db.read(&Read::Agents) else {
        panic!()
    };
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
    let Ok(Outcome::State(state)) = db.read(&Read::State {
        key: Some("plan".into()),
        with_values: true,
    }) else {
        panic!()
    };
    assert_eq!(
        (
            state[0].value.as_str(),
            state[0].updated_by.as_str(),
            state[0].version
        ),
        ("third draft", "ann", 3)
    );
    assert_eq!(
        db.read(&Read::Claims { now: 2000.0 }),
        Ok(Outcome::Claims(vec![ClaimRow {
            path: "src/api/x.rs".into(),
            owner: "ann".into(),
            expires_at: 1_001_000.0
        }]))
    );
    // Receipts survive: message 2 was read by ann and cid.
    let Ok(Outcome::Status(s)) = db.read(&Read::MessageStatus { id: 2 }) else {
        panic!()
    };
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
    assert_eq!(page_ids(one(&mut db, consume("ann"))), (vec![3, 4], 0));
    assert_eq!(page_ids(one(&mut db, consume("bob"))), (vec![5], 0));
    assert_eq!(page_ids(one(&mut db, consume("cid"))), (vec![5], 0));
    // A Python receipt row left unread becomes a read receipt.
    let Ok(Outcome::Status(s)) = db.read(&Read::MessageStatus { id: 3 }) else {
        panic!()
    };
    assert_eq!(
        (s.readers[0].recipient.as_str(), s.readers[0].read_ts),
        ("ann", 300.0)
    );
    // New columns work: a session id resolves.
    one(
        &mut db,
        Write::Register {
            name: "bob".into(),
            role: None,
            owns: None,
            session_id: Some("s-bob".into()),
            now: 301.0,
        },
    )
    .unwrap();
    assert_eq!(
        db.read(&Read::Resolve {
            session_id: "s-bob".into()
        }),
        Ok(Outcome::Name(Some("bob".into())))
    );
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
    assert_eq!(page_ids(one(&mut db, consume("ann"))), (vec![3, 4], 0));
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

/// Collects what the database thread reports as committed.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<Committed>>>);

impl CommitListener for Events {
    fn committed(&self, events: &[Committed]) {
        self.0.lock().unwrap().extend_from_slice(events);
    }
}

/// A backend whose first batch waits for `gate`, so that every other writer queues meanwhile.
struct Gated {
    inner: SqliteBackend,
    entered: Option<tokio::sync::oneshot::Sender<()>>,
    gate: Option<std::sync::mpsc::Receiver<()>>,
    batches: Arc<Mutex<Vec<usize>>>,
}

impl Backend for Gated {
    fn read(&mut self, read: &Read) -> Result<Outcome, StoreError> {
        self.inner.read(read)
    }
    fn write(&mut self, writes: &[Write]) -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        if let (Some(entered), Some(gate)) = (self.entered.take(), self.gate.take()) {
            entered.send(()).unwrap();
            gate.recv().unwrap();
        }
        self.batches.lock().unwrap().push(writes.len());
        self.inner.write(writes)
    }
    fn close(&mut self) -> Result<(), StoreError> {
        self.inner.close()
    }
}

fn set(
    state_key: &str,
    value: &str,
    by: &str,
    expected_version: Option<i64>,
    append: bool,
) -> Write {
    Write::SetState {
        key: None,
        state_key: state_key.into(),
        value: value.into(),
        by: by.into(),
        expected_version,
        append,
        now: 1.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_gives_every_writer_its_own_answer() {
    const N: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel();
    let batches = Arc::new(Mutex::new(Vec::new()));
    let backend = Gated {
        inner: SqliteBackend::open(&dir.path().join("bus.db")).unwrap(),
        entered: Some(entered_tx),
        gate: Some(gate_rx),
        batches: batches.clone(),
    };
    let events = Events::default();
    let (db, thread) = Db::spawn(backend, events.clone()).unwrap();

    // Hold the database thread in a first batch while N writers queue behind it.
    let first = tokio::spawn({
        let db = db.clone();
        async move {
            db.write(Write::Touch {
                name: "sink".into(),
                now: 1.0,
            })
            .await
        }
    });
    entered_rx.await.unwrap();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    let writers: Vec<_> = (0..N)
        .map(|i| {
            let (db, ready) = (db.clone(), ready_tx.clone());
            let name = format!("w{i:02}");
            let w = match i % 4 {
                0 => Write::Send {
                    key: Some(RequestKey {
                        client: name.clone(),
                        request: 1,
                    }),
                    sender: name.clone(),
                    to: "sink".into(),
                    content: format!("from {name}"),
                    reply_to: None,
                    now: 2.0,
                },
                1 => set("log", &format!("line of {name}"), &name, None, true),
                2 => Write::Claim {
                    key: None,
                    path: "shared.rs".into(),
                    owner: name.clone(),
                    ttl: 100.0,
                    now: 2.0,
                },
                _ => set("cas", &name, &name, Some(0), false),
            };
            tokio::spawn(async move {
                let mut answer = std::pin::pin!(db.write(w));
                assert!(
                    futures::poll!(&mut answer).is_pending(),
                    "queued behind the gate"
                );
                ready.send(()).unwrap();
                (name, answer.await)
            })
        })
        .collect();
    for _ in 0..N {
        ready_rx.recv().await.unwrap();
    }
    gate_tx.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Ok(Outcome::Done));
    let mut answers = Vec::new();
    for w in writers {
        answers.push(w.await.unwrap());
    }
    assert_eq!(
        *batches.lock().unwrap(),
        vec![1, N],
        "the writers were committed as one batch"
    );

    let log = match db
        .read(Read::State {
            key: Some("log".into()),
            with_values: true,
        })
        .await
    {
        Ok(Outcome::State(rows)) => rows[0].value.clone(),
        other => panic!("{other:?}"),
    };
    let lines: Vec<&str> = log.lines().collect();
    let (mut sent, mut claim_winners, mut cas_winners) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (name, answer)) in answers.into_iter().enumerate() {
        match (i % 4, answer) {
            (0, Ok(Outcome::Message(m))) => {
                assert_eq!(
                    (m.sender.as_str(), m.content),
                    (name.as_str(), format!("from {name}"))
                );
                sent.push(m.id);
            }
            // An append's version is its line number in the log.
            (1, Ok(Outcome::Version(v))) => {
                assert_eq!(lines[v as usize - 1], format!("line of {name}"))
            }
            (2, Ok(Outcome::Claim(row))) => claim_winners.push(row.owner),
            (2, Err(StoreError::Claimed { owner, .. })) => assert_ne!(owner, name),
            (3, Ok(Outcome::Version(1))) => cas_winners.push(name),
            (
                3,
                Err(StoreError::Stale {
                    expected: 0,
                    current: 1,
                    ..
                }),
            ) => {}
            (_, other) => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(lines.len(), N / 4);
    assert_eq!((claim_winners.len(), cas_winners.len()), (1, 1));
    let Ok(Outcome::Claims(claims)) = db.read(Read::Claims { now: 3.0 }).await else {
        panic!()
    };
    assert_eq!(claims[0].owner, claim_winners[0]);
    let Ok(Outcome::State(cas)) = db
        .read(Read::State {
            key: Some("cas".into()),
            with_values: true,
        })
        .await
    else {
        panic!()
    };
    assert_eq!(cas[0].value, cas_winners[0]);
    let Ok(Outcome::Page(page)) = db
        .write(Write::Consume {
            key: None,
            name: "sink".into(),
            limit: 1000,
            now: 4.0,
        })
        .await
    else {
        panic!()
    };
    // The writers queued in no particular order; ids follow the queue.
    sent.sort();
    assert_eq!(page.messages.iter().map(|m| m.id).collect::<Vec<_>>(), sent);
    let woken: Vec<i64> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|Committed::Message { id, .. }| *id)
        .collect();
    assert_eq!(woken, sent);

    drop(db);
    assert_eq!(thread.join().unwrap(), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_a_reader_lose_nothing_and_duplicate_nothing() {
    const WRITERS: usize = 16;
    const ROUNDS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    let (db, thread) = Db::spawn(SqliteBackend::open(&path).unwrap(), Events::default()).unwrap();
    let reader = tokio::spawn({
        let db = db.clone();
        async move {
            let mut got = Vec::new();
            let mut request = 0;
            while got.len() < WRITERS * ROUNDS {
                request += 1;
                let key = Some(RequestKey {
                    client: "reader".into(),
                    request,
                });
                match db
                    .write(Write::Consume {
                        key,
                        name: "reader".into(),
                        limit: 7,
                        now: 1.0,
                    })
                    .await
                {
                    Ok(Outcome::Page(Page { messages, .. })) => {
                        got.extend(messages.into_iter().map(|m| m.content))
                    }
                    other => panic!("{other:?}"),
                }
                tokio::task::yield_now().await;
            }
            got
        }
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut versions = Vec::new();
                for round in 0..ROUNDS {
                    let to = if round % 2 == 0 { "reader" } else { "all" };
                    let send = Write::Send {
                        key: None,
                        sender: format!("w{w}"),
                        to: to.into(),
                        content: format!("{w}/{round}"),
                        reply_to: None,
                        now: 1.0,
                    };
                    assert!(matches!(db.write(send).await, Ok(Outcome::Message(_))));
                    // A compare-and-set increment, retried until it wins.
                    loop {
                        let read = Read::State {
                            key: Some("counter".into()),
                            with_values: true,
                        };
                        let Ok(Outcome::State(rows)) = db.read(read).await else {
                            panic!()
                        };
                        let current = rows.first().map_or(0, |r| r.version);
                        match db
                            .write(set("counter", "x", "w", Some(current), false))
                            .await
                        {
                            Ok(Outcome::Version(v)) => break versions.push(v),
                            Err(StoreError::Stale { .. }) => continue,
                            other => panic!("{other:?}"),
                        }
                    }
                }
                versions
            })
        })
        .collect();
    let mut versions = Vec::new();
    for w in writers {
        versions.extend(w.await.unwrap());
    }
    versions.sort();
    assert_eq!(
        versions,
        (1..=(WRITERS * ROUNDS) as i64).collect::<Vec<_>>(),
        "every win is its own version"
    );
    let mut got = reader.await.unwrap();
    got.sort();
    let mut expected: Vec<String> = (0..WRITERS)
        .flat_map(|w| (0..ROUNDS).map(move |r| format!("{w}/{r}")))
        .collect();
    expected.sort();
    assert_eq!(got, expected, "every message exactly once");
    drop(db);
    assert_eq!(thread.join().unwrap(), Ok(()));
    let wal = std::fs::metadata(dir.path().join("bus.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "checkpointed on close");
}
