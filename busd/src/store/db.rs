//! The database thread and [`Db`], its typed handle.
//!
//! Each call is queued as a type-erased job that answers on its own typed oneshot, so no
//! caller ever receives an answer of the wrong shape. The thread takes what is queued (up to
//! [`MAX_BATCH`]), answers the reads at once, runs the writes in one transaction and answers
//! them only once it has committed. Commands in one batch are concurrent from their clients'
//! point of view (none waited for another's answer), so answering reads before the batch's
//! writes is linearizable.
//!
//! When the backend offers a second connection for reads ([`Backend::reader`]), the reads run
//! on a thread of their own instead, and never wait behind a batch's commit: they see what is
//! durable, so a write answered before a read was asked is always seen. The inbox reads of a
//! name the reader cannot answer ([`Reads::knows_inbox`]) are handed on to the database thread.
//! The request records (`applied`) are always read by the database thread, in order with the
//! writes that make them. Where the reader answers without a network round trip
//! ([`Reads::quick`]), the point reads (an inbox page, one key, one message's receipts) run on
//! the caller's own thread when the read connection is free, sparing two thread hand-offs.
//!
//! A batch that sends mail to a reader parked in a consuming wait ([`Db::park`]) also takes the
//! mail for that reader, in the same transaction after the batch's writes ([`parked`]): one
//! durable commit per wake.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::parked::{Mail, Parked, ParkedRead, StillThere, Take};
use super::{
    AgentRow, Backend, Claim, ClaimRow, CommitListener, Consume, Counts, Keyed, MessageRow,
    MessageStatusRow, NewMessage, Page, Reads, Recorded, Register, Release, RequestKey, SetState,
    StateRow, StoreError, Tail, TakeReply, TokenCreate, TokenRow, Tx,
};

/// The most commands taken into one batch.
const MAX_BATCH: usize = 512;

/// A read on the database thread (or a call of the backend's that is no write), answering
/// on its own channel.
type ReadJob = Box<dyn FnOnce(&mut dyn Backend) + Send>;

/// A read on the read thread.
type ReaderRead = Box<dyn FnOnce(&mut dyn Reads) + Send>;

/// What the read thread is given.
enum ReaderJob {
    Read(ReaderRead),
    /// Stop reading (close is coming): answer once the connection is closed.
    Stop(oneshot::Sender<()>),
}

/// A write queued for the next transaction.
trait WriteJob: Send {
    /// The time the write happens at (the transaction forgets keys older than its writes).
    fn now(&self) -> f64;
    /// Apply it; the answer waits for the commit. Also the mail it sent, if any.
    fn apply(self: Box<Self>, tx: &mut dyn Tx) -> (Box<dyn Answer>, Option<Mail>);
    /// The transaction failed before the write was applied.
    fn fail(self: Box<Self>, error: &StoreError);
}

/// A write's result, held until its transaction has committed or failed.
trait Answer: Send {
    fn send(self: Box<Self>, commit: Result<(), &StoreError>);
}

struct QueuedWrite<T, F> {
    now: f64,
    apply: F,
    /// The mail a successful write sent, if it sends any.
    mail: fn(&T) -> Option<Mail>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

struct Held<T> {
    result: Result<T, StoreError>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for QueuedWrite<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
{
    fn now(&self) -> f64 {
        self.now
    }

    fn apply(self: Box<Self>, tx: &mut dyn Tx) -> (Box<dyn Answer>, Option<Mail>) {
        let result = (self.apply)(tx);
        let mail = result.as_ref().ok().and_then(self.mail);
        let held = Held {
            result,
            reply: self.reply,
        };
        (Box::new(held), mail)
    }

    fn fail(self: Box<Self>, error: &StoreError) {
        let _ = self.reply.send(Err(error.clone()));
    }
}

impl<T: Send + 'static> Answer for Held<T> {
    fn send(self: Box<Self>, commit: Result<(), &StoreError>) {
        let answer = match commit {
            Ok(()) => self.result,
            Err(e) => Err(e.clone()),
        };
        let _ = self.reply.send(answer);
    }
}

enum Job {
    Read(ReadJob),
    Write(Box<dyn WriteJob>),
    /// Commit what is queued, close the backend, refuse everything after.
    Close(oneshot::Sender<()>),
}

/// The read connection, shared by the read thread and the quick reads of callers.
#[derive(Clone)]
struct Reader {
    /// `None` once closed.
    reads: Arc<Mutex<Option<Box<dyn Reads>>>>,
    thread: std_mpsc::Sender<ReaderJob>,
    /// Whether a point read may run on its caller's thread ([`Reads::quick`]).
    quick: bool,
}

/// What became of a read tried on its caller's thread.
enum Here<T, F> {
    Done(Result<T, StoreError>),
    /// The reader cannot answer for the inbox: the database thread must.
    Writer(F),
    /// The read thread holds the connection.
    Busy(F),
}

impl Reader {
    /// Run `read` here if the connection is free and can answer for `name`.
    fn try_here<T, F>(&self, name: Option<&str>, read: F) -> Here<T, F>
    where
        F: FnOnce(&mut dyn Reads) -> Result<T, StoreError>,
    {
        let mut guard = match self.reads.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Here::Busy(read),
        };
        let Some(reads) = guard.as_deref_mut() else {
            return Here::Done(Err(StoreError::Closed));
        };
        match name.is_none_or(|name| reads.knows_inbox(name)) {
            true => Here::Done(read(reads)),
            false => Here::Writer(read),
        }
    }

    fn lock(reads: &Mutex<Option<Box<dyn Reads>>>) -> MutexGuard<'_, Option<Box<dyn Reads>>> {
        // A read that panicked changed nothing: the connection is still good.
        reads.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a read may run on its caller's thread (see [`Reads::quick`]).
#[derive(Clone, Copy)]
enum Size {
    /// One row or one bounded page.
    Point,
    /// Maybe every row of a table: always on the read thread.
    Scan,
}

/// A cheap, cloneable handle to the database thread: one typed method per operation.
#[derive(Clone)]
pub struct Db {
    tx: std_mpsc::Sender<Job>,
    /// The read thread, when the backend has a reader.
    reader: Option<Reader>,
    parked: Arc<Parked>,
    /// Transactions the thread has run (committed or not).
    transactions: Arc<AtomicU64>,
}

impl Db {
    /// Start the database thread. It ends, closing the backend, once every [`Db`] is dropped.
    pub fn spawn<L: CommitListener>(
        mut backend: Box<dyn Backend>,
        listener: L,
    ) -> std::io::Result<(Db, JoinHandle<Result<(), StoreError>>)> {
        let reader = match backend.reader() {
            Some(reads) => Some(Reader::spawn(reads)?),
            None => None,
        };
        let (tx, rx) = std_mpsc::channel();
        let parked = Arc::new(Parked::default());
        let transactions = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new().name("busd-db".into()).spawn({
            let thread = Thread {
                parked: Arc::clone(&parked),
                transactions: Arc::clone(&transactions),
            };
            move || run(backend, listener, &thread, rx)
        })?;
        let db = Db {
            tx,
            reader,
            parked,
            transactions,
        };
        Ok((db, thread))
    }

    /// How many transactions the database thread has run so far.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Park a consuming reader whose inbox was empty: the next batch that sends it mail takes
    /// the mail for it in the same transaction (`consume`'s `now` is the batch's). `there`
    /// tells whether its client can still be answered; a reader whose client is gone is not
    /// taken for.
    pub fn park(&self, consume: Consume, there: StillThere) -> ParkedRead {
        self.parked.park(consume, there)
    }

    /// Finish what is queued, then close the backend (checkpoint). Later commands fail with
    /// `StoreError::Closed`.
    pub async fn close(&self) {
        // The reader first, so that no read is under way while the writer checkpoints.
        if let Some(reader) = &self.reader {
            let (tx, rx) = oneshot::channel();
            if reader.thread.send(ReaderJob::Stop(tx)).is_ok() {
                let _ = rx.await;
            }
        }
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Job::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// A call on the database thread's connection, between batches.
    async fn read_writer<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |backend| {
            let _ = tx.send(read(backend));
        });
        self.tx
            .send(Job::Read(job))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// A read of durable state: on the read thread when there is one.
    async fn read<T: Send + 'static>(
        &self,
        size: Size,
        read: impl FnOnce(&mut dyn Reads) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.read_inbox(None, size, read).await
    }

    /// A read that involves the inbox of `name` (when given): by the reader when there is one
    /// and it can answer for `name`, otherwise on the database thread. A point read by a quick
    /// reader runs here and now when the connection is free, else on the read thread.
    async fn read_inbox<T: Send + 'static>(
        &self,
        name: Option<String>,
        size: Size,
        read: impl FnOnce(&mut dyn Reads) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let Some(reader) = &self.reader else {
            return self.read_writer(|backend| read(backend)).await;
        };
        let read = match reader.quick && matches!(size, Size::Point) {
            true => match reader.try_here(name.as_deref(), read) {
                Here::Done(answer) => return answer,
                Here::Writer(read) => return self.read_writer(|backend| read(backend)).await,
                Here::Busy(read) => read,
            },
            false => read,
        };
        let (tx, rx) = oneshot::channel();
        let writer = self.tx.clone();
        let job: ReaderRead = Box::new(move |reads| {
            if name.as_deref().is_none_or(|name| reads.knows_inbox(name)) {
                let _ = tx.send(read(reads));
                return;
            }
            let job: ReadJob = Box::new(move |backend| {
                let _ = tx.send(read(backend));
            });
            // A send that fails drops `tx`: the caller learns the store is closed.
            let _ = writer.send(Job::Read(job));
        });
        reader
            .thread
            .send(ReaderJob::Read(job))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn write<T: Send + 'static>(
        &self,
        now: f64,
        apply: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_mail(now, apply, |_| None).await
    }

    /// A write that sends the mail `mail` reads off its result.
    async fn write_mail<T: Send + 'static>(
        &self,
        now: f64,
        apply: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
        mail: fn(&T) -> Option<Mail>,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(QueuedWrite {
            now,
            apply,
            mail,
            reply,
        });
        self.tx
            .send(Job::Write(job))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn peek(&self, name: &str, limit: u32) -> Result<Page, StoreError> {
        let owned = name.to_owned();
        self.read_inbox(Some(name.to_owned()), Size::Point, move |b| {
            b.peek(&owned, limit)
        })
        .await
    }

    /// Hold `name` against the sessions of other busd on a shared store (see
    /// [`Backend::hold`]): on the database thread's connection, as the reads are.
    pub async fn hold(&self, name: &str, now: f64) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.read_writer(move |b| b.hold(&name, now)).await
    }

    pub async fn let_go(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.read_writer(move |b| b.let_go(&name)).await
    }

    pub async fn held_elsewhere(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read_writer(|b| b.held_elsewhere()).await
    }

    pub async fn agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        self.read(Size::Scan, |b| b.agents()).await
    }

    pub async fn resolve(&self, session_id: &str) -> Result<Option<String>, StoreError> {
        let session_id = session_id.to_owned();
        self.read(Size::Point, move |b| b.resolve(&session_id))
            .await
    }

    pub async fn message_status(&self, id: i64) -> Result<MessageStatusRow, StoreError> {
        self.read(Size::Point, move |b| b.message_status(id)).await
    }

    pub async fn state(
        &self,
        key: Option<&str>,
        with_values: bool,
    ) -> Result<Vec<StateRow>, StoreError> {
        let size = match key {
            Some(_) => Size::Point,
            None => Size::Scan,
        };
        let key = key.map(str::to_owned);
        self.read(size, move |b| b.state(key.as_deref(), with_values))
            .await
    }

    pub async fn claims(&self, now: f64) -> Result<Vec<ClaimRow>, StoreError> {
        self.read(Size::Scan, move |b| b.claims(now)).await
    }

    pub async fn tail(&self, after: Option<i64>, limit: u32) -> Result<Tail, StoreError> {
        self.read(Size::Scan, move |b| b.tail(after, limit)).await
    }

    pub async fn counts(&self, now: f64) -> Result<Counts, StoreError> {
        self.read(Size::Scan, move |b| b.counts(now)).await
    }

    pub async fn applied(
        &self,
        key: RequestKey,
        kind: Keyed,
    ) -> Result<Option<Recorded>, StoreError> {
        self.read_writer(move |b| b.applied(&key, kind)).await
    }

    pub async fn thread(&self, name: &str, id: i64) -> Result<Page, StoreError> {
        let owned = name.to_owned();
        self.read_inbox(Some(name.to_owned()), Size::Point, move |b| {
            b.thread(&owned, id)
        })
        .await
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        self.read(Size::Scan, |b| b.tokens()).await
    }

    pub async fn register(&self, w: Register) -> Result<(AgentRow, u64), StoreError> {
        self.write(w.now, move |tx| tx.register(&w)).await
    }

    pub async fn touch(&self, name: &str, now: f64) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(now, move |tx| tx.touch(&name, now)).await
    }

    pub async fn send(&self, w: NewMessage) -> Result<MessageRow, StoreError> {
        self.write_mail(w.now, move |tx| tx.send(&w), recipient)
            .await
    }

    pub async fn ask(&self, w: NewMessage) -> Result<MessageRow, StoreError> {
        self.write_mail(w.now, move |tx| tx.ask(&w), recipient)
            .await
    }

    pub async fn consume(&self, w: Consume) -> Result<Page, StoreError> {
        self.write(w.now, move |tx| tx.consume(&w)).await
    }

    pub async fn set_state(&self, w: SetState) -> Result<i64, StoreError> {
        self.write(w.now, move |tx| tx.set_state(&w)).await
    }

    pub async fn claim(&self, w: Claim) -> Result<ClaimRow, StoreError> {
        self.write(w.now, move |tx| tx.claim(&w)).await
    }

    pub async fn release(&self, w: Release) -> Result<bool, StoreError> {
        self.write(w.now, move |tx| tx.release(&w)).await
    }

    pub async fn take_reply(&self, w: TakeReply) -> Result<Option<MessageRow>, StoreError> {
        self.write(w.now, move |tx| tx.take_reply(&w)).await
    }

    pub async fn mark_read(&self, name: &str, id: i64, now: f64) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(now, move |tx| tx.mark_read(&name, id, now))
            .await
    }

    pub async fn token_create(&self, w: TokenCreate) -> Result<(), StoreError> {
        self.write(w.now, move |tx| tx.token_create(&w)).await
    }

    pub async fn token_revoke(&self, name: &str, now: f64) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(now, move |tx| tx.token_revoke(&name)).await
    }

    pub async fn token_used(&self, name: &str, now: f64) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(now, move |tx| tx.token_used(&name, now)).await
    }
}

fn recipient(m: &MessageRow) -> Option<Mail> {
    Some(Mail {
        to: m.recipient.clone(),
        from: m.sender.clone(),
    })
}

/// What the database thread shares with its [`Db`] handles.
struct Thread {
    parked: Arc<Parked>,
    transactions: Arc<AtomicU64>,
}

impl Reader {
    /// Start the read thread on `reads`; it ends when told to stop or when every [`Db`] is
    /// gone.
    fn spawn(reads: Box<dyn Reads>) -> std::io::Result<Reader> {
        let quick = reads.quick();
        let reads = Arc::new(Mutex::new(Some(reads)));
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("busd-read".into())
            .spawn({
                let reads = Arc::clone(&reads);
                move || {
                    while let Ok(job) = rx.recv() {
                        match job {
                            // A read after close drops its answer: its caller learns so.
                            ReaderJob::Read(read) => {
                                if let Some(reads) = Reader::lock(&reads).as_deref_mut() {
                                    read(reads);
                                }
                            }
                            ReaderJob::Stop(done) => {
                                Reader::lock(&reads).take();
                                let _ = done.send(());
                                return;
                            }
                        }
                    }
                }
            })?;
        Ok(Reader {
            reads,
            thread: tx,
            quick,
        })
    }
}

fn run<L: CommitListener>(
    mut backend: Box<dyn Backend>,
    listener: L,
    thread: &Thread,
    rx: std_mpsc::Receiver<Job>,
) -> Result<(), StoreError> {
    let mut writes: Vec<Box<dyn WriteJob>> = Vec::new();
    let mut closed = None;
    while closed.is_none() {
        let Ok(first) = rx.recv() else { break };
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(job) = next {
            match job {
                Job::Read(read) => read(&mut *backend),
                Job::Write(write) => writes.push(write),
                Job::Close(reply) => {
                    closed = Some(reply);
                    break;
                }
            }
            taken += 1;
            next = if taken < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !writes.is_empty() {
            thread.transactions.fetch_add(1, Ordering::Relaxed);
            commit(&mut *backend, &listener, &thread.parked, &mut writes);
        }
    }
    drop(rx);
    let result = backend.close();
    if let Some(reply) = closed {
        let _ = reply.send(());
    }
    result
}

/// Apply `writes` in one transaction, then take the mail they sent for the readers parked for
/// it; answer each once the transaction ended, and report what was committed.
fn commit(
    backend: &mut dyn Backend,
    listener: &impl CommitListener,
    parked: &Parked,
    writes: &mut Vec<Box<dyn WriteJob>>,
) {
    let now = writes.iter().map(|w| w.now()).fold(f64::MIN, f64::max);
    let count = writes.len();
    let mut answers = Vec::with_capacity(count);
    let mut takes: Vec<(Take, Result<Page, StoreError>)> = Vec::new();
    let committed = backend.transaction(now, &mut |tx| {
        let mut mail = Vec::new();
        for write in writes.drain(..) {
            let (answer, sent) = write.apply(tx);
            answers.push(answer);
            mail.extend(sent);
        }
        for take in parked.take(&mail, now) {
            let page = tx.consume(&take.consume);
            takes.push((take, page));
        }
    });
    match committed {
        Ok(events) => {
            // The woken readers first: their answers are what a wake waits for.
            for (take, page) in takes {
                take.answer(page);
            }
            for answer in answers {
                answer.send(Ok(()));
            }
            if !events.is_empty() {
                listener.committed(&events);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, writes = count, "commit failed");
            for answer in answers {
                answer.send(Err(&e));
            }
            for write in writes.drain(..) {
                write.fail(&e);
            }
            for (take, _) in takes {
                take.answer(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parked::tests::{db, mail};
    use super::*;

    /// Reads on the callers' threads and on the read thread, racing with writes: each read
    /// sees every send answered before it was asked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_sees_every_write_answered_before_it_wherever_it_runs() {
        let (_dir, db) = db();
        let readers: Vec<_> = (0..4)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    let to = format!("bob{i}");
                    for n in 0..100 {
                        let sent = db.send(mail(&to, "hi")).await.expect("send");
                        let page = db.peek(&to, 1000).await.expect("peek");
                        assert_eq!(page.pending, n + 1, "{to}: every send so far is unread");
                        assert_eq!(page.messages.last().map(|m| m.id), Some(sent.id));
                        let status = db.message_status(sent.id).await.expect("status");
                        assert!(status.readers.is_empty(), "not read yet");
                        // A scan read always goes to the read thread, beside the point reads.
                        assert!(db.counts(1.0).await.is_ok());
                    }
                })
            })
            .collect();
        for reader in readers {
            reader.await.expect("reader");
        }
    }

    #[tokio::test]
    async fn a_read_after_close_says_the_store_is_closed() {
        let (_dir, db) = db();
        db.send(mail("bob", "hi")).await.expect("send");
        assert_eq!(db.peek("bob", 10).await.expect("peek").pending, 1);
        db.close().await;
        assert!(matches!(db.peek("bob", 10).await, Err(StoreError::Closed)));
        assert!(matches!(db.counts(1.0).await, Err(StoreError::Closed)));
    }
}
