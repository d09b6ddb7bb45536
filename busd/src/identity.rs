//! A connection's identity: what handlers know about the connection they serve ([`ConnCtx`]),
//! the name it acts as ([`Binding`], changed one at a time), and freeing a session's name when
//! it is given up or the connection ends.

use std::collections::HashMap;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Mutex;

use proto::Hello;
use tokio::sync::{MutexGuard, watch};
use tokio_util::sync::CancellationToken;

use crate::presence::{ConnId, Peer};
use crate::shared::Shared;

/// What handlers know about the connection they serve.
pub(crate) struct ConnCtx {
    pub id: ConnId,
    pub hello: Hello,
    /// The connection's socket, valid while the connection is served (handlers end first).
    pub socket: RawFd,
    pub identity: Binding,
    /// The calls running, by request id: a `Cancel` cancels one.
    pub in_flight: Mutex<HashMap<u64, CancellationToken>>,
    /// busd is shutting down and has told this connection how: waits end now.
    pub closing: CancellationToken,
}

impl ConnCtx {
    /// A watch on this connection's socket, for presence to tell whether the peer is still
    /// there (taken when a name is bound, so other connections cost no extra descriptor).
    pub fn peer(&self) -> Peer {
        // SAFETY: the socket stays open until `serve` returns, which is after every handler
        // (the only callers) has finished.
        Peer::watch(unsafe { BorrowedFd::borrow_raw(self.socket) })
    }

    /// Whether the client has closed its end (asked of the socket itself, so it is true at
    /// once, before the connection's loop has read the end of the stream).
    pub fn hung_up(&self) -> bool {
        self.peer().is_gone()
    }

    /// The bound name, if any.
    pub fn name(&self) -> Option<String> {
        self.identity.name()
    }
}

/// Free a session's name and note when it was last seen.
pub(crate) async fn release_name(shared: &Shared, conn: ConnId, name: String) {
    if shared.presence.unbind(&name, conn) {
        if let Err(e) = shared.db.let_go(&name).await {
            tracing::warn!(conn, error = %e, "could not let go of the name on the shared database");
        }
        let now = proto::time::now();
        if let Err(e) = shared.db.touch(&name, now).await {
            tracing::warn!(conn, error = %e, "could not record last_seen");
        }
    }
}

/// Who a connection acts as.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Identity {
    #[default]
    None,
    /// A session that registered the name and holds it while connected.
    Session(String),
    /// The `bus` command acting as a name it does not hold.
    Acting(String),
}

impl Identity {
    pub fn name(&self) -> Option<&str> {
        match self {
            Identity::None => None,
            Identity::Session(n) | Identity::Acting(n) => Some(n),
        }
    }
}

/// A connection's identity. Requests read it; `register` and `act_as` change it one at a time
/// (a change holds its turn from reading the identity before it until it is set), so each
/// change knows the name it replaces; a waiting read watches it, so it never waits on under a
/// name the connection gave up.
pub struct Binding {
    current: watch::Sender<Identity>,
    turn: tokio::sync::Mutex<()>,
}

impl Default for Binding {
    fn default() -> Binding {
        Binding {
            current: watch::Sender::new(Identity::None),
            turn: tokio::sync::Mutex::new(()),
        }
    }
}

impl Binding {
    /// The bound name, if any.
    pub fn name(&self) -> Option<String> {
        self.current.borrow().name().map(str::to_owned)
    }

    /// A receiver that sees every later change.
    pub fn watch(&self) -> watch::Receiver<Identity> {
        self.current.subscribe()
    }

    /// Wait for this connection's turn to change its identity.
    pub async fn change(&self) -> Change<'_> {
        Change {
            _turn: self.turn.lock().await,
            binding: self,
        }
    }

    /// Clear the identity as the connection closes; returns what it was.
    pub fn take(&self) -> Identity {
        self.current.send_replace(Identity::None)
    }
}

/// The turn of one change of a connection's identity.
pub struct Change<'a> {
    _turn: MutexGuard<'a, ()>,
    binding: &'a Binding,
}

impl Change<'_> {
    /// The identity being changed.
    pub fn current(&self) -> Identity {
        self.binding.current.borrow().clone()
    }

    /// Set the identity; returns the one it replaces.
    pub fn set(&self, identity: Identity) -> Identity {
        self.binding.current.send_replace(identity)
    }
}
