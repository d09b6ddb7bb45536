//! Errors as they cross the wire: a kind a program can branch on, a message a person can act on.

use serde::{Deserialize, Serialize};

/// What went wrong, coarsely. The shim maps every kind to a tool error; the CLI to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// An argument is out of its limits or malformed (names, sizes, durations).
    InvalidArgument,
    /// An identity-bound request before `register` (or `ActAs`).
    NotRegistered,
    /// The name is held by another connected session.
    NameTaken,
    /// An id, key or name that does not exist where one is required.
    NotFound,
    /// A compare-and-set mismatch, or a path claimed by another owner.
    Conflict,
    /// The request is not allowed for this identity (sending to yourself, releasing another's
    /// claim).
    Forbidden,
    /// A frame or reply over the size limit.
    TooLarge,
    /// The database refused the write (disk full, I/O error); nothing was applied.
    Storage,
    /// The daemon is shutting down; retry against the next one.
    ShuttingDown,
    /// The daemon is restarting (an upgrade): the request was not applied; send it again to
    /// the next busd, which the restart starts.
    Restarting,
    /// The connection has its limit of calls in flight: wait for one to end, then retry.
    Busy,
    /// A newer waiter for the same slot took over this one.
    Replaced,
    /// The request was cancelled by its client before it took effect.
    Cancelled,
    /// The handshake failed: another protocol version, or a refused peer.
    Handshake,
    /// A bug in busd. The message says what; the daemon keeps serving.
    Internal,
    /// A bearer token that is not (or no longer) valid.
    Unauthorized,
}

/// A refused request: `kind` to branch on, `message` to show (lowercase, no trailing period,
/// naming the thing and what to do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    pub kind: ErrorKind,
    pub message: String,
}

impl WireError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        WireError {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn not_registered() -> Self {
        Self::new(
            ErrorKind::NotRegistered,
            "register first: call register(name) to bind this session's identity",
        )
    }
}
