//! The coordination calls: waiting for a shared-state key to move, asking and waiting for the
//! answer, reading a thread. Each parks on the hub (subscribed before it looks), never polls.

use std::time::Duration;

use proto::time::now;
use proto::{Asked, ErrorKind, Response, StateList, WireError, limits};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::mail::{inbox_page, message};
use super::{Handler, unexpected};
use crate::store::{Outcome, Read, Write};

/// How a wait ended without its answer.
enum Parked {
    /// Woken, or the time ran out, or busd is closing: look again (and return if done).
    Look,
    Cancelled,
}

/// A handler answer of the wrong shape: a bug, reported instead of panicking.
fn unexpected_response(response: Response) -> WireError {
    tracing::error!(?response, "a handler answered with an unexpected response");
    WireError::new(
        ErrorKind::Internal,
        "internal error: unexpected answer (see busd's log)",
    )
}

impl Handler<'_> {
    /// `key` once its version is above `after_version`, waiting up to `wait` seconds.
    pub(super) async fn wait_state(
        &self,
        key: String,
        after_version: i64,
        wait: f64,
        cancel: CancellationToken,
    ) -> Result<Response, WireError> {
        limits::key(&key)?;
        limits::seconds("wait", wait, Some(limits::WAIT_MAX_SECONDS))?;
        if after_version < 0 {
            return Err(WireError::invalid(format!(
                "after_version must be 0 (any version) or a version: got {after_version}"
            )));
        }
        let deadline = Instant::now() + Duration::from_secs_f64(wait);
        // Subscribe before the look, so a write committed in between still wakes us.
        let mut signal = self.shared.hub.state(&key);
        loop {
            let state = match self.get_state(Some(key.clone())).await? {
                Response::State(StateList { state }) => state,
                other => return Err(unexpected_response(other)),
            };
            let state: Vec<_> = state
                .into_iter()
                .filter(|s| s.version > after_version)
                .collect();
            if state.is_empty() {
                self.not_restarting()?;
            }
            if !state.is_empty() || self.done(deadline) {
                return Ok(Response::State(StateList { state }));
            }
            if let Parked::Cancelled = self.park(signal.changed(), deadline, &cancel).await {
                return Err(WireError::new(
                    ErrorKind::Cancelled,
                    "cancelled while waiting for a change of state",
                ));
            }
        }
    }

    /// Send, then wait up to `wait` seconds for the first reply and take it from the inbox.
    ///
    /// The replies are reserved for this call from the send on; every way out of the loop
    /// (a reply, the deadline, busd stopping, a cancel) goes through one last `TakeReply`,
    /// which ends the reservation, so what arrived by then is this call's answer.
    pub(super) async fn ask(
        &self,
        to: String,
        content: String,
        reply_to: Option<i64>,
        wait: f64,
        cancel: CancellationToken,
    ) -> Result<Response, WireError> {
        limits::seconds("wait_reply", wait, Some(limits::WAIT_MAX_SECONDS))?;
        let me = self.sender(&to, &content)?;
        // Subscribed before the send: a reply committed before the first look still wakes us.
        let mut signal = self.shared.hub.mail(&me);
        let write = Write::Ask {
            key: self.key.clone(),
            sender: me.clone(),
            to,
            content,
            reply_to,
            now: now(),
        };
        let sent = match self.write(write).await? {
            Outcome::Message(m) => m,
            other => return Err(unexpected(other)),
        };
        let deadline = Instant::now() + Duration::from_secs_f64(wait);
        let keep_until = now() + wait;
        let mut waiting = None;
        let mut cancelled = false;
        loop {
            let last = cancelled || self.done(deadline);
            let take = Write::TakeReply {
                key: self.key.clone(),
                name: me.clone(),
                message: sent.id,
                keep_until,
                last,
                now: now(),
            };
            let reply = match self.write(take).await? {
                Outcome::Reply(reply) => reply,
                other => return Err(unexpected(other)),
            };
            if reply.is_none() && !cancelled {
                // Sent, and nothing taken: the resend to the next busd is answered with this
                // send's record and waits on there.
                self.not_restarting()?;
            }
            if reply.is_some() || last {
                // A cancelled call answers too: its message is sent, and a reply it took is
                // the shim's to hold for the next inbox.
                return Ok(Response::Asked(Asked {
                    id: sent.id,
                    to: sent.recipient,
                    reply: reply.map(message),
                }));
            }
            waiting.get_or_insert_with(|| self.shared.presence.waiting(&me));
            if let Parked::Cancelled = self.park(signal.changed(), deadline, &cancel).await {
                cancelled = true;
            }
        }
    }

    /// The reply chain holding message `id` that the bound name may see; consumes nothing.
    pub(super) async fn thread(&self, id: i64) -> Result<Response, WireError> {
        let name = self.me()?;
        match self.read(Read::Thread { name, id }).await? {
            Outcome::Page(page) => Ok(Response::Inbox(inbox_page(page))),
            other => Err(unexpected(other)),
        }
    }

    fn done(&self, deadline: Instant) -> bool {
        Instant::now() >= deadline || self.ctx.closing.is_cancelled()
    }

    async fn park(
        &self,
        woken: impl Future<Output = ()>,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Parked {
        tokio::select! {
            () = woken => Parked::Look,
            () = tokio::time::sleep_until(deadline) => Parked::Look,
            () = self.ctx.closing.cancelled() => Parked::Look,
            () = cancel.cancelled() => Parked::Cancelled,
        }
    }
}
