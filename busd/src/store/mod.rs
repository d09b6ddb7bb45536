//! Storage: the backend-neutral seam between the handlers and a database.
//!
//! Handlers never touch a database: they call [`Db`], a cheap handle with one typed method per
//! operation, which queues the call for one dedicated thread owning a [`Backend`] ([`db`]).
//! The thread takes everything queued, answers the reads, then applies all the writes in one
//! durable transaction (group commit), each all-or-nothing on its own, and only then answers
//! them and hands what the backend reports as committed to the [`CommitListener`] (the
//! wake-ups of the hub).
//!
//! A backend implements the domain rules of docs/SPEC.md (inbox visibility and the broadcast
//! name `all`, exactly-once consume, compare-and-set and append limits, claims, replies
//! reserved for an ask, request keys replayed within [`KEY_MEMORY_SECONDS`]); the
//! [`conformance`] suite states each of them once, and every backend runs it. The backend is
//! chosen by configuration in one place, [`open`]: SQLite ([`sqlite`]) for one machine,
//! PostgreSQL ([`postgres`]) for a bus shared by the busd of several machines.

mod commands;
#[cfg(test)]
pub mod conformance;
mod db;
mod error;
mod parked;
pub mod postgres;
mod records;
mod reserved;
mod rows;
pub mod sqlite;

use proto::paths::BusPaths;

pub use commands::*;
pub use db::Db;
pub use error::{Source, StoreError};
pub use parked::{ParkedRead, StillThere};
pub use rows::*;

/// The reads: answered from committed state, changing nothing.
pub trait Reads: Send + 'static {
    /// Whether this connection can answer the inbox reads of `name` (`peek`, `thread`). A
    /// [`Backend::reader`] cannot while an ask of `name` holds reservations (they live on the
    /// writer's connection alone): those reads go to the writer.
    fn knows_inbox(&self, name: &str) -> bool {
        let _ = name;
        true
    }
    /// Whether its reads are answered without a network round trip (a local file), so that a
    /// point read may run on its caller's thread instead of waiting for the read thread's turn.
    fn quick(&self) -> bool {
        false
    }
    /// Up to `limit` unread messages for `name` and how many are unread in all.
    fn peek(&mut self, name: &str, limit: u32) -> Result<Page, StoreError>;
    /// Every agent ever registered, by name.
    fn agents(&mut self) -> Result<Vec<AgentRow>, StoreError>;
    /// The name most recently registered by the Claude Code session `session_id`.
    fn resolve(&mut self, session_id: &str) -> Result<Option<String>, StoreError>;
    /// A message's receipts and who has not read it yet; `UnknownMessage` for an unknown id.
    fn message_status(&mut self, id: i64) -> Result<MessageStatusRow, StoreError>;
    /// One key, or all keys, by key; `with_values: false` leaves values empty.
    fn state(&mut self, key: Option<&str>, with_values: bool) -> Result<Vec<StateRow>, StoreError>;
    /// Claims live at `now`, by path.
    fn claims(&mut self, now: f64) -> Result<Vec<ClaimRow>, StoreError>;
    /// Up to `limit` messages with an id above `after`, and the id to follow on from (`after`:
    /// `None` gives no message, just the newest id).
    fn tail(&mut self, after: Option<i64>, limit: u32) -> Result<Tail, StoreError>;
    /// Counts for `bus status`.
    fn counts(&mut self, now: f64) -> Result<Counts, StoreError>;
    /// The first outcome of the request `key`, if it was applied (and is still remembered);
    /// `KeyReused` when it was applied as another command than `kind`.
    fn applied(&mut self, key: &RequestKey, kind: Keyed) -> Result<Option<Recorded>, StoreError>;
    /// The reply chain holding message `id` (its root and every reply under it), oldest first,
    /// keeping only what `name` may see: sent by it, to it or to `all`; `pending` is `name`'s
    /// unread count. `UnknownMessage` for an unknown id.
    fn thread(&mut self, name: &str, id: i64) -> Result<Page, StoreError>;
    /// Every HTTP token, with its digest, by name.
    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError>;
}

/// A store: its reads, and the writes in durable transactions.
pub trait Backend: Reads {
    /// A second connection to the same store for the reads, run on a thread of its own, so
    /// that reads never wait behind a batch's commit: it sees each transaction once it is
    /// durable, as the writer's other readers do. `None` when the store has none to offer
    /// (the reads then run on the database thread, between batches).
    fn reader(&mut self) -> Option<Box<dyn Reads>> {
        None
    }

    /// Run `writes` in one durable transaction, and answer what it committed that waiting
    /// readers care about once it is durable. Call `writes` exactly once, with the open
    /// transaction (unless opening it failed): it calls the [`Tx`]'s typed writes; each
    /// succeeds or fails on its own (a refused one leaves no trace). Keys recorded before
    /// `now - KEY_MEMORY_SECONDS` are forgotten first. The error means the transaction failed
    /// and nothing was applied: every write in it failed with it.
    fn transaction(
        &mut self,
        now: f64,
        writes: &mut dyn FnMut(&mut dyn Tx),
    ) -> Result<Vec<Committed>, StoreError>;

    /// Flush and compact before the daemon exits (for SQLite: checkpoint the WAL).
    fn close(&mut self) -> Result<(), StoreError>;

    /// Presence across the busd sharing the store: hold `name` for a session of this busd,
    /// so that no other busd's session may; `false` when a session of another busd holds it.
    /// The hold ends with [`Backend::let_go`], or with this busd (a store shared with others
    /// ties it to something the store ends itself when busd is gone). A store of this busd's
    /// own has no one else to ask.
    fn hold(&mut self, name: &str, now: f64) -> Result<bool, StoreError> {
        let _ = (name, now);
        Ok(true)
    }

    /// This busd's sessions no longer hold `name`.
    fn let_go(&mut self, name: &str) -> Result<(), StoreError> {
        let _ = name;
        Ok(())
    }

    /// The names that sessions of other busd hold, with the host each is on.
    fn held_elsewhere(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(Vec::new())
    }

    /// Start telling `listener` what others commit to a store shared with them (the other
    /// busd on a shared database), from a task of the current tokio runtime. A store that
    /// only this busd writes has nothing to tell.
    fn watch_others(&mut self, listener: Box<dyn CommitListener>) {
        let _ = listener;
    }
}

/// The writes, inside the transaction [`Backend::transaction`] opened: each is all-or-nothing,
/// and a keyed one is applied at most once (see [`commands`]). Once the transaction itself has
/// failed, every write fails with that error.
pub trait Tx {
    fn register(&mut self, w: &Register) -> Result<(AgentRow, u64), StoreError>;
    /// Record that `name` was seen at `now` (creating its agent when there is none).
    fn touch(&mut self, name: &str, now: f64) -> Result<(), StoreError>;
    fn send(&mut self, w: &NewMessage) -> Result<MessageRow, StoreError>;
    /// Append a message as `send` does (recorded as a `send`), and reserve the replies to it for
    /// its sender: while reserved, no inbox of the sender shows them (nor counts them, nor
    /// moves its cursor past them), so only `take_reply` can take them. Each ask (a resent one
    /// too) holds the reservation until its own last `take_reply`. Reservations live as long
    /// as the backend's process: a restarted busd has none, and what they held is mail again.
    fn ask(&mut self, w: &NewMessage) -> Result<MessageRow, StoreError>;
    fn consume(&mut self, w: &Consume) -> Result<Page, StoreError>;
    fn set_state(&mut self, w: &SetState) -> Result<i64, StoreError>;
    fn claim(&mut self, w: &Claim) -> Result<ClaimRow, StoreError>;
    fn release(&mut self, w: &Release) -> Result<bool, StoreError>;
    /// The reply taken, or `None` when none is unread.
    fn take_reply(&mut self, w: &TakeReply) -> Result<Option<MessageRow>, StoreError>;
    /// Record that `name` has read message `id`, when it is `name`'s (to it or to `all`, not
    /// from it); otherwise nothing. The cursor stays: this is a receipt past it (a channel
    /// push Claude Code took).
    fn mark_read(&mut self, name: &str, id: i64, now: f64) -> Result<(), StoreError>;
    fn token_create(&mut self, w: &TokenCreate) -> Result<(), StoreError>;
    /// Forget the token of `name`; `false` when it had none.
    fn token_revoke(&mut self, name: &str) -> Result<bool, StoreError>;
    /// Record that the token of `name` was accepted at `now`.
    fn token_used(&mut self, name: &str, now: f64) -> Result<(), StoreError>;
}

/// What a committed transaction changed that waiting readers care about, as the backend that
/// committed it reports it (a backend shared by several busd also reports the others').
#[derive(Debug, Clone, PartialEq)]
pub enum Committed {
    /// A new message for `recipient` (a name or `all`).
    Message { id: i64, recipient: String },
    /// Shared state `key` is now at `version`.
    State { key: String, version: i64 },
    /// A claim on `path` was taken, refreshed or released.
    Claim { path: String },
    /// `name` registered (its role or owns may have changed).
    Agent { name: String },
}

/// Told about each transaction once it is durable.
pub trait CommitListener: Send + 'static {
    fn committed(&self, events: &[Committed]);
    /// Commits may have been made that nobody was told of (a shared store's notifications
    /// were lost with their connection): every waiting reader must look again.
    fn missed(&self);
}

/// Open (creating or upgrading) the store that `paths.db` names: a `postgres://` URL is a
/// database shared with other busd, a file path a SQLite database of this busd's own. The one
/// place that chooses a backend. `host` is the name this machine goes by: a shared store
/// records it beside each name a session here holds.
pub fn open(paths: &BusPaths, host: &str) -> anyhow::Result<Box<dyn Backend>> {
    if paths.is_shared() {
        // The client blocks on a runtime of its own, which may not start inside busd's:
        // it connects on a thread of its own, as it later runs on the database thread.
        let url = paths.db.to_string_lossy().into_owned();
        let host = host.to_owned();
        let opened = std::thread::spawn(move || {
            postgres::PgBackend::open(&url).map(|backend| backend.on_host(host))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("opening the shared bus database panicked"))?;
        return Ok(Box::new(opened?));
    }
    Ok(Box::new(sqlite::SqliteBackend::open(&paths.db)?))
}
