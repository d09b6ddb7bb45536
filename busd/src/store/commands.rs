//! The arguments of each write, one type per operation. Every write carries the `now` it
//! happens at (Unix seconds), so that time is the caller's: tests pass it explicitly.
//!
//! Writes carrying a [`RequestKey`] are applied at most once per key: a repeated key returns
//! the outcome of the first application (only outcomes that changed something are recorded:
//! an empty `Consume` is not), within the replay window ([`KEY_MEMORY_SECONDS`]).

use super::RequestKey;

/// How long an applied request key is remembered: far longer than a client retries. A key is
/// forgotten once a batch commits at a `now` more than this past the key's record (an ask's
/// record is kept until the end of its wait, see [`TakeReply`]).
pub const KEY_MEMORY_SECONDS: f64 = 600.0;

/// Create or update an agent. `None` keeps the stored role/owns; a new agent starts with its
/// read cursor before every message. Answers the agent and its unread count.
#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    pub name: String,
    pub role: Option<String>,
    pub owns: Option<Vec<String>>,
    pub session_id: Option<String>,
    pub now: f64,
}

/// Append a message (`send`), or append it and reserve its replies (`ask`, see
/// [`Tx::ask`](super::Tx::ask)). Fails with `UnknownReplyTo` for a `reply_to` that does not
/// exist.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub key: Option<RequestKey>,
    pub sender: String,
    pub to: String,
    pub content: String,
    pub reply_to: Option<i64>,
    pub now: f64,
}

/// Take up to `limit` unread messages for `name`, oldest first: move its cursor past exactly
/// those and record their receipts, atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct Consume {
    pub key: Option<RequestKey>,
    pub name: String,
    pub limit: u32,
    pub now: f64,
}

/// Write a key: compare-and-set when `expected_version` is given (0: must not exist); with
/// `append`, add `value` as a new line of the current value. Answers the new version.
#[derive(Debug, Clone, PartialEq)]
pub struct SetState {
    pub key: Option<RequestKey>,
    pub state_key: String,
    pub value: String,
    pub by: String,
    pub expected_version: Option<i64>,
    pub append: bool,
    pub now: f64,
}

/// Claim `path` for `owner` until `now + ttl`, unless another owner's claim is live.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub key: Option<RequestKey>,
    pub path: String,
    pub owner: String,
    pub ttl: f64,
    pub now: f64,
}

/// Remove `owner`'s claim on `path`; `false` when there was none (or it had expired).
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub key: Option<RequestKey>,
    pub path: String,
    pub owner: String,
    pub now: f64,
}

/// Take the oldest unread message of `name` that replies to `message` out of its inbox, out of
/// order: record its receipt (the inbox shows no message `name` has a receipt for) and leave
/// the cursor and every other message where they are. `key` is the ask's that sent `message`:
/// the reply taken is added to its record, so the resent request gets the same reply again
/// instead of another one or none; that record is kept at least until `keep_until` (the end
/// of the wait), however long the wait. Taking a reply, or `last` (the ask stops waiting),
/// ends this ask's hold on the reservation.
#[derive(Debug, Clone, PartialEq)]
pub struct TakeReply {
    pub key: Option<RequestKey>,
    pub name: String,
    pub message: i64,
    pub keep_until: f64,
    pub last: bool,
    pub now: f64,
}

/// Store the token digest of `name`; fails with `TokenExists` while it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenCreate {
    pub name: String,
    pub role: Option<String>,
    pub digest: String,
    pub now: f64,
}
