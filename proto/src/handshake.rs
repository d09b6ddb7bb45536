//! The first frame each way on every connection.
//!
//! These two types are frozen: their postcard layout must never change, so that any two
//! versions of claude-bus can at least tell each other which protocol they speak. Everything
//! else may change with [`crate::PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

use crate::WireError;

/// What kind of program is connecting; shown in logs and `bus status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientKind {
    /// `bus-shim`, one per Claude Code session.
    Shim,
    /// The `bus` command line, including its hook entry points.
    Cli,
    /// Anything else (benchmarks, tests).
    Other,
}

/// The client's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol the client speaks after the handshake.
    pub protocol: u32,
    pub kind: ClientKind,
    /// Random per client process and stable across its reconnects; request ids are unique
    /// within it.
    pub client_id: String,
    /// `CLAUDE_CODE_SESSION_ID` of the session the client serves, when set.
    pub session_id: Option<String>,
    pub pid: u32,
    /// If the daemon speaks an older protocol, ask it to shut down gracefully so that the client
    /// can start its own.
    pub retire_older: bool,
}

/// The daemon's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Welcome {
    /// Go ahead: requests may follow. `protocol` is the one this connection speaks: the
    /// client's, which busd serves down to `PROTOCOL_OLDEST`.
    Accepted {
        protocol: u32,
        version: String,
        pid: u32,
    },
    /// The daemon speaks an older protocol and, as asked, is shutting down; start a new one once
    /// the socket is gone.
    Retiring { protocol: u32, pid: u32 },
    /// The connection is refused; the error says why and what to do.
    Refused { protocol: u32, error: WireError },
}
