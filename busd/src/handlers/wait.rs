//! The coordination calls: waiting for a shared-state key to move, asking and waiting for the
//! answer, reading a thread. Each parks on the hub (subscribed before it looks), never polls.

use std::time::Duration;

use proto::time::now;
use proto::{Asked, ErrorKind, Response, StateList, WireError, limits};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::mail::{inbox_page, message};
use super::{Handler, refusal};
use crate::handshake::speaks_stopped;
use crate::store::{NewMessage, TakeReply};

/// How a wait ended without its answer.
enum Parked {
    /// Woken, or the time ran out, or busd is closing: look again (and return if done).
    Look,
    Cancelled,
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
            let state: Vec<_> = self
                .state_entries(Some(key.clone()))
                .await?
                .into_iter()
                .filter(|s| s.version > after_version)
                .collect();
            if state.is_empty() {
                self.not_restarting()?;
            }
            if !state.is_empty() || self.done(deadline) {
                let found = !state.is_empty();
                return Ok(self.ended(found, Response::State(StateList { state })));
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
        let write = NewMessage {
            key: self.key.clone(),
            sender: me.clone(),
            to,
            content,
            reply_to,
            now: now(),
        };
        let sent = self.db().ask(write).await.map_err(refusal)?;
        let deadline = Instant::now() + Duration::from_secs_f64(wait);
        let keep_until = now() + wait;
        let mut waiting = None;
        let mut cancelled = false;
        loop {
            let last = cancelled || self.done(deadline);
            let take = TakeReply {
                key: self.key.clone(),
                name: me.clone(),
                message: sent.id,
                keep_until,
                last,
                now: now(),
            };
            let reply = self.db().take_reply(take).await.map_err(refusal)?;
            if reply.is_none() && !cancelled {
                // Sent, and nothing taken: the resend to the next busd is answered with this
                // send's record and waits on there.
                self.not_restarting()?;
            }
            if reply.is_some() || last {
                // A cancelled call answers too: its message is sent, and a reply it took is
                // the shim's to hold for the next inbox.
                let found = reply.is_some() || cancelled;
                let asked = Response::Asked(Asked {
                    id: sent.id,
                    to: sent.recipient,
                    reply: reply.map(message),
                });
                return Ok(self.ended(found, asked));
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
        let page = self.db().thread(&name, id).await.map_err(refusal)?;
        Ok(Response::Inbox(inbox_page(page)))
    }

    /// `Parked(true)` once a reader of `name` is parked in a wait for mail (see
    /// `Request::AwaitParked`): woken by each reader that parks, never on a timer.
    pub(super) async fn await_parked(
        &self,
        name: String,
        wait: f64,
        cancel: CancellationToken,
    ) -> Result<Response, WireError> {
        limits::name(&name)?;
        limits::seconds("wait", wait, Some(limits::WAIT_MAX_SECONDS))?;
        let presence = &self.shared.presence;
        let deadline = Instant::now() + Duration::from_secs_f64(wait);
        let mut parked = presence.watch_parked();
        loop {
            parked.borrow_and_update();
            if presence.is_waiting(&name) {
                return Ok(Response::Parked(true));
            }
            if self.done(deadline) {
                return Ok(Response::Parked(false));
            }
            let woken = async {
                // Presence outlives every call, so the channel cannot close.
                let _ = parked.changed().await;
            };
            if let Parked::Cancelled = self.park(woken, deadline, &cancel).await {
                return Err(WireError::new(
                    ErrorKind::Cancelled,
                    "cancelled while waiting for a reader to park",
                ));
            }
        }
    }

    /// The answer of a waiting call that is done. One that found nothing because busd is
    /// stopping for good says so (`Response::Stopped`) to a client that knows the word, so
    /// that it need not guess why its wait ended early; an older client gets the answer alone.
    /// (A restart has refused such a call already: see [`Handler::not_restarting`].)
    pub(super) fn ended(&self, found: bool, answer: Response) -> Response {
        if !found && self.ctx.closing.is_cancelled() && speaks_stopped(self.ctx.hello.protocol) {
            Response::Stopped(Box::new(answer))
        } else {
            answer
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
