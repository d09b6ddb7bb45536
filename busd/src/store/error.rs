//! Why a storage command failed: the refusals of the domain rules, each with what the handler
//! needs to word it, and the failures of the database itself, which keep their source.

use std::sync::Arc;

use super::Keyed;

/// Why a command failed. The handlers turn these into wire errors with docs/SPEC.md's wording.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("no message with id {0}")]
    UnknownMessage(i64),
    #[error("reply_to {0} is not a message id")]
    UnknownReplyTo(i64),
    #[error("stale write: expected_version {expected} != current {current}")]
    Stale {
        key: String,
        expected: i64,
        current: i64,
    },
    #[error("'{path}' is claimed by '{owner}' for another {seconds_left:.0}s")]
    Claimed {
        path: String,
        owner: String,
        seconds_left: f64,
    },
    #[error("'{path}' is claimed by '{owner}', not by you")]
    NotOwner { path: String, owner: String },
    #[error("value would be {0} bytes")]
    TooLarge(usize),
    /// The request key was first used for another command (`first`: its name, or `None` when
    /// the record predates naming it).
    #[error("request {request} was first used for {}", first.as_deref().unwrap_or("another command"))]
    KeyReused {
        request: u64,
        first: Option<String>,
        now: Keyed,
    },
    /// `name` has a token already.
    #[error("'{0}' has a token already")]
    TokenExists(String),
    /// The database refused: disk full, I/O error, corruption, a lost server. Nothing was
    /// applied.
    #[error("database error: {0}")]
    Io(#[source] Source),
    /// The shared database's server cannot be reached (down, restarting, the network gone):
    /// nothing was applied, unless the connection broke while a commit was under way (a
    /// resent keyed request is applied at most once either way).
    #[error("the shared bus database at {server} is unreachable: {reason}; retrying")]
    Unreachable { server: String, reason: Source },
    /// The database thread is gone (the daemon is stopping).
    #[error("the database is closed")]
    Closed,
}

impl StoreError {
    /// A failure of the database itself, keeping `error` as its source.
    pub fn io(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Io(Source(Arc::new(error)))
    }
}

impl StoreError {
    /// The server `server` cannot be reached, for `error`.
    pub fn unreachable(
        server: &str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Unreachable {
            server: server.to_owned(),
            reason: Source(Arc::new(error)),
        }
    }
}

/// The backend's own error behind [`StoreError::Io`]: shared, so that one failed commit can
/// answer every write of its batch. Two are equal when they read the same.
#[derive(Debug, Clone)]
pub struct Source(Arc<dyn std::error::Error + Send + Sync>);

impl Source {
    /// The backend's error, for a caller that knows the backend (`downcast_ref`).
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Source {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Source {
    fn eq(&self, other: &Source) -> bool {
        self.to_string() == other.to_string()
    }
}
