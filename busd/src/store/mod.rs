//! Storage: the closed command set of the database thread, and the thread itself.
//!
//! Handlers never touch a database: they call [`Db`], a cheap handle that queues commands for
//! one dedicated thread owning a [`Backend`]. The thread takes everything queued, answers the
//! reads, then applies all the writes in one durable transaction (group commit) and only then
//! answers them and reports what was committed to the [`CommitListener`] (the wake-ups).
//!
//! The interface is backend-neutral: SQLite ([`sqlite`]) is one implementation; a shared
//! PostgreSQL for teams spanning machines is another one that would slot in beside it.
//! Commands in one batch are concurrent from their clients' point of view (none waited for
//! another's answer), so answering reads before the batch's writes is linearizable.

pub mod rows;
mod schema;
pub mod sqlite;

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub use rows::*;

/// The most commands taken into one batch.
const MAX_BATCH: usize = 512;

/// A read: answered from committed state, changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// Up to `limit` unread messages for `name`, and how many are unread in all.
    Peek { name: String, limit: u32 },
    /// Every agent ever registered.
    Agents,
    /// The name most recently registered by the Claude Code session `session_id`.
    Resolve { session_id: String },
    /// A message's receipts and who has not read it yet.
    MessageStatus { id: i64 },
    /// One key, or all keys; `with_values: false` leaves values empty.
    State {
        key: Option<String>,
        with_values: bool,
    },
    /// Claims live at `now`.
    Claims { now: f64 },
    /// Every message with an id above `after` (`None`: none, just report the newest id).
    Tail { after: Option<i64>, limit: u32 },
    /// Counts for `bus status`.
    Counts { now: f64 },
    /// The first outcome of the request `key`, if it was applied; `KeyReused` when it was
    /// applied as another command than `kind`.
    Applied { key: RequestKey, kind: Keyed },
    /// The reply chain holding message `id` (its root and every reply under it), oldest
    /// first, keeping only what `name` may see: sent by it, to it or to `all`. Answered with a
    /// `Page` whose `pending` is `name`'s unread count; `UnknownMessage` for an unknown id.
    Thread { name: String, id: i64 },
    /// Every HTTP token, with its digest.
    Tokens,
}

/// A write. Writes carrying a [`RequestKey`] are applied at most once per key: a repeated key
/// returns the outcome of the first application (only outcomes that changed something are
/// recorded: an empty `Consume` is not).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create or update an agent. `None` keeps the stored role/owns; a new agent starts with
    /// its read cursor before every message.
    Register {
        name: String,
        role: Option<String>,
        owns: Option<Vec<String>>,
        session_id: Option<String>,
        now: f64,
    },
    /// Record that `name` was seen at `now`.
    Touch { name: String, now: f64 },
    /// Append a message. Fails with `UnknownReplyTo` for a `reply_to` that does not exist.
    Send {
        key: Option<RequestKey>,
        sender: String,
        to: String,
        content: String,
        reply_to: Option<i64>,
        now: f64,
    },
    /// Take up to `limit` unread messages for `name`, oldest first: move its cursor past
    /// exactly those and record their receipts, atomically.
    Consume {
        key: Option<RequestKey>,
        name: String,
        limit: u32,
        now: f64,
    },
    /// Write a key: compare-and-set when `expected_version` is given (0: must not exist).
    SetState {
        key: Option<RequestKey>,
        state_key: String,
        value: String,
        by: String,
        expected_version: Option<i64>,
        append: bool,
        now: f64,
    },
    /// Claim `path` for `owner` until `now + ttl`, unless another owner's claim is live.
    Claim {
        key: Option<RequestKey>,
        path: String,
        owner: String,
        ttl: f64,
        now: f64,
    },
    /// Remove `owner`'s claim on `path`; `false` when there was none (or it had expired).
    Release {
        key: Option<RequestKey>,
        path: String,
        owner: String,
        now: f64,
    },
    /// Append a message as `Send` does (recorded as a `Send`), and reserve the replies to it
    /// for `sender`: while reserved, no inbox of `sender` shows them (nor counts them, nor
    /// moves its cursor past them), so only `TakeReply` can take them. Each `Ask` (a resent
    /// one too) holds the reservation until its own last `TakeReply`.
    Ask {
        key: Option<RequestKey>,
        sender: String,
        to: String,
        content: String,
        reply_to: Option<i64>,
        now: f64,
    },
    /// Take the oldest unread message of `name` that replies to `message` out of its inbox,
    /// out of order: record its receipt (the inbox shows no message `name` has a receipt for)
    /// and leave the cursor and every other message where they are. `key` is the `Ask` that
    /// sent `message`: the reply taken is added to its record, so the resent request gets the
    /// same reply again instead of another one or none; that record is kept at least until
    /// `keep_until` (the end of the wait), however long the wait. Taking a reply, or `last`
    /// (the ask stops waiting), ends this ask's hold on the reservation.
    TakeReply {
        key: Option<RequestKey>,
        name: String,
        message: i64,
        keep_until: f64,
        last: bool,
        now: f64,
    },
    /// Store the token digest of `name`; fails with `TokenExists` while it has one.
    TokenCreate {
        name: String,
        role: Option<String>,
        digest: String,
        now: f64,
    },
    /// Forget the token of `name`; `Released(false)` when it had none.
    TokenRevoke { name: String, now: f64 },
    /// Record that the token of `name` was accepted at `now` (the handler writes it once a
    /// minute at most).
    TokenUsed { name: String, now: f64 },
}

/// What a command produced. Each command has one variant; [`Db`] unwraps it.
///
/// `Reply` answers [`Write::TakeReply`]: the reply taken, or `None` when none is unread.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Agent(AgentRow, u64),
    Agents(Vec<AgentRow>),
    Name(Option<String>),
    Message(MessageRow),
    Page(Page),
    Status(MessageStatusRow),
    State(Vec<StateRow>),
    Version(i64),
    Claim(ClaimRow),
    Released(bool),
    Claims(Vec<ClaimRow>),
    Tail(Vec<MessageRow>, i64),
    Counts(Counts),
    Applied(Option<Recorded>),
    Reply(Option<MessageRow>),
    Tokens(Vec<TokenRow>),
    Done,
}

/// What a committed batch changed that waiting readers care about.
#[derive(Debug, Clone, PartialEq)]
pub enum Committed {
    /// A new message for `recipient` (a name or `all`).
    Message { id: i64, recipient: String },
    /// Shared state `key` is now at `version`.
    State { key: String, version: i64 },
}

/// A storage engine. Implementations must make each write all-or-nothing and a batch durable
/// before `write` returns.
pub trait Backend: Send + 'static {
    fn read(&mut self, read: &Read) -> Result<Outcome, StoreError>;

    /// Apply `writes` in order in one durable transaction. Each write succeeds or fails on its
    /// own (a failed one leaves no trace); the outer error means the commit failed and nothing
    /// was applied.
    fn write(&mut self, writes: &[Write]) -> Result<Vec<Result<Outcome, StoreError>>, StoreError>;

    /// Flush and compact before the daemon exits (for SQLite: checkpoint the WAL).
    fn close(&mut self) -> Result<(), StoreError>;
}

/// Told about each batch once it is durable.
pub trait CommitListener: Send + 'static {
    fn committed(&self, events: &[Committed]);
}

enum Job {
    Read(Read, oneshot::Sender<Result<Outcome, StoreError>>),
    Write(Write, oneshot::Sender<Result<Outcome, StoreError>>),
    /// Commit what is queued, close the backend, refuse everything after.
    Close(oneshot::Sender<()>),
}

/// A cheap, cloneable handle to the database thread.
#[derive(Clone)]
pub struct Db {
    tx: std_mpsc::Sender<Job>,
}

impl Db {
    /// Start the database thread. It ends, closing the backend, once every [`Db`] is dropped.
    pub fn spawn<B: Backend, L: CommitListener>(
        backend: B,
        listener: L,
    ) -> std::io::Result<(Db, JoinHandle<Result<(), StoreError>>)> {
        let (tx, rx) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("busd-db".into())
            .spawn(move || run(backend, listener, rx))?;
        Ok((Db { tx }, thread))
    }

    pub async fn read(&self, read: Read) -> Result<Outcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Job::Read(read, tx))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Finish what is queued, then close the backend (checkpoint). Later commands fail with
    /// `StoreError::Closed`.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Job::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    pub async fn write(&self, write: Write) -> Result<Outcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Job::Write(write, tx))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn run<B: Backend, L: CommitListener>(
    mut backend: B,
    listener: L,
    rx: std_mpsc::Receiver<Job>,
) -> Result<(), StoreError> {
    let mut writes = Vec::new();
    let mut replies = Vec::new();
    let mut closed = None;
    while closed.is_none() {
        let Ok(first) = rx.recv() else { break };
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(job) = next {
            match job {
                Job::Read(read, reply) => {
                    let _ = reply.send(backend.read(&read));
                }
                Job::Write(write, reply) => {
                    writes.push(write);
                    replies.push(reply);
                }
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
        if writes.is_empty() {
            continue;
        }
        match backend.write(&writes) {
            Ok(outcomes) => {
                let events = committed_events(&writes, &outcomes);
                for (reply, outcome) in replies.drain(..).zip(outcomes) {
                    let _ = reply.send(outcome);
                }
                if !events.is_empty() {
                    listener.committed(&events);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = writes.len(), "commit failed");
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
        writes.clear();
    }
    drop(rx);
    let result = backend.close();
    if let Some(reply) = closed {
        let _ = reply.send(());
    }
    result
}

fn committed_events(writes: &[Write], outcomes: &[Result<Outcome, StoreError>]) -> Vec<Committed> {
    writes
        .iter()
        .zip(outcomes)
        .filter_map(|(write, outcome)| match (write, outcome) {
            (Write::Send { .. } | Write::Ask { .. }, Ok(Outcome::Message(m))) => {
                Some(Committed::Message {
                    id: m.id,
                    recipient: m.recipient.clone(),
                })
            }
            (Write::SetState { state_key, .. }, Ok(Outcome::Version(version))) => {
                Some(Committed::State {
                    key: state_key.clone(),
                    version: *version,
                })
            }
            _ => None,
        })
        .collect()
}
