//! The database thread through the storage API: group commit under many concurrent writers,
//! each getting its own answer, with nothing lost or duplicated.

use std::sync::{Arc, Mutex};

use busd::store::sqlite::SqliteBackend;
use busd::store::{
    Backend, CommitListener, Committed, Db, Outcome, Page, Read, RequestKey, StoreError, Write,
};

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
        .filter_map(|event| match event {
            Committed::Message { id, .. } => Some(*id),
            Committed::State { .. } => None,
        })
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

#[tokio::test]
async fn a_state_write_is_reported_with_its_version_once_committed_and_a_refused_one_not() {
    let dir = tempfile::tempdir().unwrap();
    let events = Events::default();
    let backend = SqliteBackend::open(&dir.path().join("bus.db")).unwrap();
    let (db, thread) = Db::spawn(backend, events.clone()).unwrap();
    db.write(set("schema", "v1", "ann", None, false))
        .await
        .unwrap();
    db.write(set("schema", "v2", "ann", Some(1), false))
        .await
        .unwrap();
    let stale = db.write(set("schema", "v3", "ann", Some(1), false)).await;
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    let reported = events.0.lock().unwrap().clone();
    assert_eq!(
        reported,
        [1, 2].map(|version| Committed::State {
            key: "schema".into(),
            version
        })
    );
    drop(db);
    assert_eq!(thread.join().unwrap(), Ok(()));
}
