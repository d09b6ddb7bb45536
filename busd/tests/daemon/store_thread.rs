//! The database thread through the storage API: group commit under many concurrent writers,
//! each getting its own answer, with nothing lost or duplicated.

use std::sync::{Arc, Mutex};

use busd::store::postgres::PgBackend;
use busd::store::sqlite::SqliteBackend;
use busd::store::{
    AgentRow, Backend, Claim, ClaimRow, CommitListener, Committed, Consume, Counts, Db, Keyed,
    MessageStatusRow, NewMessage, Page, Reads, Recorded, RequestKey, SetState, StateRow,
    StoreError, Tail, TakeReply, TokenRow, Tx,
};

/// Collects what the database thread reports as committed.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<Committed>>>);

impl CommitListener for Events {
    fn committed(&self, events: &[Committed]) {
        self.0.lock().unwrap().extend_from_slice(events);
    }

    fn missed(&self) {}
}

/// A backend whose first batch waits for `gate`, so that every other writer queues meanwhile.
struct Gated {
    inner: SqliteBackend,
    entered: Option<tokio::sync::oneshot::Sender<()>>,
    gate: Option<std::sync::mpsc::Receiver<()>>,
    batches: Arc<Mutex<Vec<usize>>>,
}

impl Reads for Gated {
    fn knows_inbox(&self, name: &str) -> bool {
        self.inner.knows_inbox(name)
    }
    fn peek(&mut self, name: &str, limit: u32) -> Result<Page, StoreError> {
        self.inner.peek(name, limit)
    }
    fn agents(&mut self) -> Result<Vec<AgentRow>, StoreError> {
        self.inner.agents()
    }
    fn resolve(&mut self, session_id: &str) -> Result<Option<String>, StoreError> {
        self.inner.resolve(session_id)
    }
    fn message_status(&mut self, id: i64) -> Result<MessageStatusRow, StoreError> {
        self.inner.message_status(id)
    }
    fn state(&mut self, key: Option<&str>, with_values: bool) -> Result<Vec<StateRow>, StoreError> {
        self.inner.state(key, with_values)
    }
    fn claims(&mut self, now: f64) -> Result<Vec<ClaimRow>, StoreError> {
        self.inner.claims(now)
    }
    fn tail(&mut self, after: Option<i64>, limit: u32) -> Result<Tail, StoreError> {
        self.inner.tail(after, limit)
    }
    fn counts(&mut self, now: f64) -> Result<Counts, StoreError> {
        self.inner.counts(now)
    }
    fn applied(&mut self, key: &RequestKey, kind: Keyed) -> Result<Option<Recorded>, StoreError> {
        self.inner.applied(key, kind)
    }
    fn thread(&mut self, name: &str, id: i64) -> Result<Page, StoreError> {
        self.inner.thread(name, id)
    }
    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        self.inner.tokens()
    }
}

impl Backend for Gated {
    fn reader(&mut self) -> Option<Box<dyn Reads>> {
        self.inner.reader()
    }
    fn transaction(
        &mut self,
        now: f64,
        writes: &mut dyn FnMut(&mut dyn Tx),
    ) -> Result<Vec<Committed>, StoreError> {
        if let (Some(entered), Some(gate)) = (self.entered.take(), self.gate.take()) {
            entered.send(()).unwrap();
            gate.recv().unwrap();
        }
        let batches = self.batches.clone();
        self.inner.transaction(now, &mut |tx| {
            let mut counted = Counted {
                inner: tx,
                writes: 0,
            };
            writes(&mut counted);
            batches.lock().unwrap().push(counted.writes);
        })
    }
    fn close(&mut self) -> Result<(), StoreError> {
        self.inner.close()
    }
}

/// Counts the writes of a transaction.
struct Counted<'a> {
    inner: &'a mut dyn Tx,
    writes: usize,
}

impl Tx for Counted<'_> {
    fn register(&mut self, w: &busd::store::Register) -> Result<(AgentRow, u64), StoreError> {
        self.writes += 1;
        self.inner.register(w)
    }
    fn touch(&mut self, name: &str, now: f64) -> Result<(), StoreError> {
        self.writes += 1;
        self.inner.touch(name, now)
    }
    fn send(&mut self, w: &NewMessage) -> Result<busd::store::MessageRow, StoreError> {
        self.writes += 1;
        self.inner.send(w)
    }
    fn ask(&mut self, w: &NewMessage) -> Result<busd::store::MessageRow, StoreError> {
        self.writes += 1;
        self.inner.ask(w)
    }
    fn consume(&mut self, w: &Consume) -> Result<Page, StoreError> {
        self.writes += 1;
        self.inner.consume(w)
    }
    fn set_state(&mut self, w: &SetState) -> Result<i64, StoreError> {
        self.writes += 1;
        self.inner.set_state(w)
    }
    fn claim(&mut self, w: &Claim) -> Result<ClaimRow, StoreError> {
        self.writes += 1;
        self.inner.claim(w)
    }
    fn release(&mut self, w: &busd::store::Release) -> Result<bool, StoreError> {
        self.writes += 1;
        self.inner.release(w)
    }
    fn take_reply(
        &mut self,
        w: &busd::store::TakeReply,
    ) -> Result<Option<busd::store::MessageRow>, StoreError> {
        self.writes += 1;
        self.inner.take_reply(w)
    }
    fn mark_read(&mut self, name: &str, id: i64, now: f64) -> Result<(), StoreError> {
        self.writes += 1;
        self.inner.mark_read(name, id, now)
    }
    fn token_create(&mut self, w: &busd::store::TokenCreate) -> Result<(), StoreError> {
        self.writes += 1;
        self.inner.token_create(w)
    }
    fn token_revoke(&mut self, name: &str) -> Result<bool, StoreError> {
        self.writes += 1;
        self.inner.token_revoke(name)
    }
    fn token_used(&mut self, name: &str, now: f64) -> Result<(), StoreError> {
        self.writes += 1;
        self.inner.token_used(name, now)
    }
}

/// One write of the test, whatever it answers.
enum Answer {
    Sent(Result<busd::store::MessageRow, StoreError>),
    Version(Result<i64, StoreError>),
    Claimed(Result<ClaimRow, StoreError>),
}

fn set(
    state_key: &str,
    value: &str,
    by: &str,
    expected_version: Option<i64>,
    append: bool,
) -> SetState {
    SetState {
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
    let (db, thread) = Db::spawn(Box::new(backend), events.clone()).unwrap();

    // Hold the database thread in a first batch while N writers queue behind it.
    let first = tokio::spawn({
        let db = db.clone();
        async move { db.touch("sink", 1.0).await }
    });
    entered_rx.await.unwrap();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    let writers: Vec<_> = (0..N)
        .map(|i| {
            let (db, ready) = (db.clone(), ready_tx.clone());
            let name = format!("w{i:02}");
            let w = async move {
                match i % 4 {
                    0 => Answer::Sent(
                        db.send(NewMessage {
                            key: Some(RequestKey {
                                client: name.clone(),
                                request: 1,
                            }),
                            sender: name.clone(),
                            to: "sink".into(),
                            content: format!("from {name}"),
                            reply_to: None,
                            now: 2.0,
                        })
                        .await,
                    ),
                    1 => Answer::Version(
                        db.set_state(set("log", &format!("line of {name}"), &name, None, true))
                            .await,
                    ),
                    2 => Answer::Claimed(
                        db.claim(Claim {
                            key: None,
                            path: "shared.rs".into(),
                            owner: name.clone(),
                            ttl: 100.0,
                            now: 2.0,
                        })
                        .await,
                    ),
                    _ => Answer::Version(
                        db.set_state(set("cas", &name, &name, Some(0), false)).await,
                    ),
                }
            };
            let name = format!("w{i:02}");
            tokio::spawn(async move {
                let mut answer = std::pin::pin!(w);
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
    assert_eq!(first.await.unwrap(), Ok(()));
    let mut answers = Vec::new();
    for w in writers {
        answers.push(w.await.unwrap());
    }
    assert_eq!(
        *batches.lock().unwrap(),
        vec![1, N],
        "the writers were committed as one batch"
    );

    let log = db.state(Some("log"), true).await.unwrap()[0].value.clone();
    let lines: Vec<&str> = log.lines().collect();
    let (mut sent, mut claim_winners, mut cas_winners) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (name, answer)) in answers.into_iter().enumerate() {
        match (i % 4, answer) {
            (0, Answer::Sent(Ok(m))) => {
                assert_eq!(
                    (m.sender.as_str(), m.content),
                    (name.as_str(), format!("from {name}"))
                );
                sent.push(m.id);
            }
            // An append's version is its line number in the log.
            (1, Answer::Version(Ok(v))) => {
                assert_eq!(lines[v as usize - 1], format!("line of {name}"))
            }
            (2, Answer::Claimed(Ok(row))) => claim_winners.push(row.owner),
            (2, Answer::Claimed(Err(StoreError::Claimed { owner, .. }))) => assert_ne!(owner, name),
            (3, Answer::Version(Ok(1))) => cas_winners.push(name),
            (
                3,
                Answer::Version(Err(StoreError::Stale {
                    expected: 0,
                    current: 1,
                    ..
                })),
            ) => {}
            (_, Answer::Sent(other)) => panic!("{name}: {other:?}"),
            (_, Answer::Version(other)) => panic!("{name}: {other:?}"),
            (_, Answer::Claimed(other)) => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(lines.len(), N / 4);
    assert_eq!((claim_winners.len(), cas_winners.len()), (1, 1));
    let claims = db.claims(3.0).await.unwrap();
    assert_eq!(claims[0].owner, claim_winners[0]);
    let cas = db.state(Some("cas"), true).await.unwrap();
    assert_eq!(cas[0].value, cas_winners[0]);
    let page = db
        .consume(Consume {
            key: None,
            name: "sink".into(),
            limit: 1000,
            now: 4.0,
        })
        .await
        .unwrap();
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
            _ => None,
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
    let backend = Box::new(SqliteBackend::open(&path).unwrap());
    let (db, thread) = Db::spawn(backend, Events::default()).unwrap();
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
                let consume = Consume {
                    key,
                    name: "reader".into(),
                    limit: 7,
                    now: 1.0,
                };
                let Page { messages, .. } = db.consume(consume).await.unwrap();
                got.extend(messages.into_iter().map(|m| m.content));
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
                    let send = NewMessage {
                        key: None,
                        sender: format!("w{w}"),
                        to: to.into(),
                        content: format!("{w}/{round}"),
                        reply_to: None,
                        now: 1.0,
                    };
                    assert!(db.send(send).await.is_ok());
                    // A compare-and-set increment, retried until it wins.
                    loop {
                        let rows = db.state(Some("counter"), true).await.unwrap();
                        let current = rows.first().map_or(0, |r| r.version);
                        match db
                            .set_state(set("counter", "x", "w", Some(current), false))
                            .await
                        {
                            Ok(v) => break versions.push(v),
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
    let (db, thread) = Db::spawn(Box::new(backend), events.clone()).unwrap();
    db.set_state(set("schema", "v1", "ann", None, false))
        .await
        .unwrap();
    db.set_state(set("schema", "v2", "ann", Some(1), false))
        .await
        .unwrap();
    let stale = db
        .set_state(set("schema", "v3", "ann", Some(1), false))
        .await;
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

fn message(from: &str, to: &str, content: &str, reply_to: Option<i64>) -> NewMessage {
    NewMessage {
        key: None,
        sender: from.into(),
        to: to.into(),
        content: content.into(),
        reply_to,
        now: 1.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_are_answered_while_a_batch_is_still_committing() {
    let dir = tempfile::tempdir().unwrap();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel();
    let mut inner = SqliteBackend::open(&dir.path().join("bus.db")).unwrap();
    let mut tx_done = None;
    inner
        .transaction(1.0, &mut |tx| {
            tx_done = Some(tx.send(&message("alice", "bob", "durable", None)));
        })
        .unwrap();
    assert!(tx_done.unwrap().is_ok());
    let backend = Gated {
        inner,
        entered: Some(entered_tx),
        gate: Some(gate_rx),
        batches: Arc::default(),
    };
    let (db, thread) = Db::spawn(Box::new(backend), Events::default()).unwrap();

    // The database thread is held inside a batch (as by a slow fsync) ...
    let pending = tokio::spawn({
        let db = db.clone();
        async move { db.send(message("alice", "bob", "in flight", None)).await }
    });
    entered_rx.await.unwrap();
    // ... and the reads are answered meanwhile, from what was durable before it.
    let page = tokio::time::timeout(std::time::Duration::from_secs(10), db.peek("bob", 10))
        .await
        .expect("a peek waited for the batch's commit")
        .unwrap();
    let contents: Vec<&str> = page.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!((contents, page.pending), (vec!["durable"], 1));
    let counts = tokio::time::timeout(std::time::Duration::from_secs(10), db.counts(1.0))
        .await
        .expect("a count waited for the batch's commit")
        .unwrap();
    assert_eq!(counts.messages, 1);
    assert!(!pending.is_finished());

    gate_tx.send(()).unwrap();
    assert!(pending.await.unwrap().is_ok());
    // A write answered is seen by every read asked after it.
    assert_eq!(db.peek("bob", 10).await.unwrap().pending, 2);
    db.close().await;
    drop(db);
    assert_eq!(thread.join().unwrap(), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_inbox_of_a_waiting_asker_is_read_where_its_reservations_are() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Box::new(SqliteBackend::open(&dir.path().join("bus.db")).unwrap());
    asker_reads_where_its_reservations_are(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_inbox_of_a_waiting_asker_is_read_where_its_reservations_are_on_postgres() {
    let Some(cluster) = testkit::postgres::cluster() else {
        return;
    };
    let url = cluster.database();
    // The client blocks on a runtime of its own: it connects off this one.
    let backend = tokio::task::spawn_blocking(move || PgBackend::open(&url).unwrap())
        .await
        .unwrap();
    asker_reads_where_its_reservations_are(Box::new(backend)).await;
}

/// The reader has no reservations: alice's inbox is read by the writer while her ask waits.
async fn asker_reads_where_its_reservations_are(backend: Box<dyn Backend>) {
    let (db, thread) = Db::spawn(backend, Events::default()).unwrap();
    let asked = db
        .ask(message("alice", "bob", "question", None))
        .await
        .unwrap();
    db.send(message("bob", "alice", "the answer", Some(asked.id)))
        .await
        .unwrap();
    db.send(message("carol", "alice", "unrelated", None))
        .await
        .unwrap();
    // The reply is the ask's while it waits: alice's inbox neither shows nor counts it.
    let page = db.peek("alice", 10).await.unwrap();
    let contents: Vec<&str> = page.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!((contents, page.pending), (vec!["unrelated"], 1));
    assert_eq!(db.thread("alice", asked.id).await.unwrap().pending, 1);

    let taken = db
        .take_reply(TakeReply {
            key: None,
            name: "alice".into(),
            message: asked.id,
            keep_until: 1.0,
            last: true,
            now: 1.0,
        })
        .await
        .unwrap();
    assert_eq!(taken.map(|m| m.content), Some("the answer".into()));
    // The reservation is over; the taken reply stays read.
    db.send(message(
        "bob",
        "alice",
        "a late second reply",
        Some(asked.id),
    ))
    .await
    .unwrap();
    let page = db.peek("alice", 10).await.unwrap();
    let contents: Vec<&str> = page.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        (contents, page.pending),
        (vec!["unrelated", "a late second reply"], 2)
    );
    db.close().await;
    drop(db);
    assert_eq!(thread.join().unwrap(), Ok(()));
}
