//! Messages: send, inbox (with waiting), message_status, tail.

use std::time::Duration;

use proto::time::{now, rfc3339};
use proto::{
    Closing, ErrorKind, InboxPage, Message, MessageStatus, Receipt, Response, Sent, TailPage,
    WireError, limits,
};
use tokio_util::sync::CancellationToken;

use super::{Handler, refusal};
use crate::hub::MailSignal;
use crate::presence::Waiting;
use crate::store::{Consume, MessageRow, NewMessage, Page, ParkedRead, StoreError, Tail};

/// What ended a wait for mail.
enum Woke {
    /// The database thread took mail for this reader (or says why it did not).
    Taken(Result<Page, StoreError>),
    /// Woken, or the time ran out, or busd is closing: look again (and return if done).
    Look,
    Cancelled,
    Replaced,
}

impl Handler<'_> {
    pub(super) async fn send(
        &self,
        to: String,
        content: String,
        reply_to: Option<i64>,
    ) -> Result<Response, WireError> {
        let me = self.sender(&to, &content)?;
        let write = NewMessage {
            key: self.key.clone(),
            sender: me,
            to,
            content,
            reply_to,
            now: now(),
        };
        let m = self.db().send(write).await.map_err(refusal)?;
        Ok(Response::Sent(Sent {
            id: m.id,
            to: m.recipient,
        }))
    }

    /// The bound name, if it may send `content` to `to`.
    pub(super) fn sender(&self, to: &str, content: &str) -> Result<String, WireError> {
        let me = self.me()?;
        limits::recipient(to)?;
        limits::content(content)?;
        if to == me {
            return Err(WireError::new(
                ErrorKind::Forbidden,
                format!("cannot send to yourself ('{me}'): send to another agent, or to 'all'"),
            ));
        }
        Ok(me)
    }

    /// Read the inbox; with `wait`, park on the hub until mail for this name commits.
    ///
    /// The inbox is the connection's, under whatever name it holds at each look: a `register`
    /// on the same connection while this waits moves the wait to the new name, so the old
    /// name's mail is left for whoever holds it next.
    pub(super) async fn inbox(
        &self,
        consume: bool,
        limit: u32,
        wait: f64,
        waiter: Option<String>,
        cancel: CancellationToken,
    ) -> Result<Response, WireError> {
        let me = self.me()?;
        limits::limit(limit)?;
        limits::seconds("wait", wait, Some(limits::WAIT_MAX_SECONDS))?;
        if wait == 0.0 {
            let page = self.look(&me, consume, limit).await?;
            return Ok(Response::Inbox(inbox_page(page)));
        }
        let mut identity = self.ctx.identity.watch();
        let slot = waiter.map(|key| self.shared.presence.take_slot(&key));
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(wait);
        // The name waited for, its wake-ups, and (once parked) its "waiting" mark.
        let mut watched: Option<(String, MailSignal, Option<Waiting>)> = None;
        loop {
            let me = identity
                .borrow_and_update()
                .name()
                .map(str::to_owned)
                .ok_or_else(WireError::not_registered)?;
            let (name, signal, waiting) = match &mut watched {
                Some(w) if w.0 == me => w,
                // Subscribe before the look, so mail committed in between still wakes us.
                w => w.insert((me.clone(), self.shared.hub.mail(&me), None)),
            };
            // A client that is gone takes nothing, even when mail woke it before busd read the
            // end of its connection.
            if cancel.is_cancelled() || (waiting.is_some() && self.ctx.hung_up()) {
                return Err(WireError::new(
                    ErrorKind::Cancelled,
                    "cancelled while waiting for mail",
                ));
            }
            let page = self.look(name, consume, limit).await?;
            if page.messages.is_empty() {
                self.not_restarting()?;
            }
            let done = !page.messages.is_empty()
                || tokio::time::Instant::now() >= deadline
                || self.ctx.closing.is_cancelled();
            if done {
                let found = !page.messages.is_empty();
                return Ok(self.ended(found, Response::Inbox(inbox_page(page))));
            }
            // A consuming reader also parks on the database thread, so the commit that sends
            // it mail takes that mail for it (one commit per wake). Parked before it is marked
            // waiting: whoever sees the mark (`AwaitParked`) sees it parked.
            let mut parked = consume.then(|| self.park_consume(name, limit));
            waiting.get_or_insert_with(|| self.shared.presence.waiting(name));
            let replaced = async {
                match &slot {
                    Some(slot) => slot.replaced.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            let taken = async {
                match &mut parked {
                    Some(parked) => parked.taken().await,
                    None => std::future::pending().await,
                }
            };
            let woke = tokio::select! {
                // First: once the take is answered, the hub's wake-up for the same commit may
                // be ready too, and the take must not be left behind for it.
                biased;
                taken = taken => {
                    parked = None;
                    Woke::Taken(taken)
                }
                () = signal.changed() => Woke::Look,
                // Its sender lives as long as the connection, which outlives this call.
                _ = identity.changed() => Woke::Look,
                () = tokio::time::sleep_until(deadline) => Woke::Look,
                () = self.ctx.closing.cancelled() => Woke::Look,
                () = cancel.cancelled() => Woke::Cancelled,
                () = replaced => Woke::Replaced,
            };
            // Leave the registry; if the thread took for this reader meanwhile, the taken
            // messages are this call's answer, whatever else woke it.
            let (taken, woke) = match (parked, woke) {
                (Some(parked), woke) => (parked.leave().await, woke),
                (None, Woke::Taken(taken)) => (Some(taken), Woke::Look),
                (None, woke) => (None, woke),
            };
            if let Some(Ok(page)) = taken
                && !page.messages.is_empty()
            {
                return Ok(Response::Inbox(inbox_page(page)));
            }
            match woke {
                Woke::Cancelled => {
                    return Err(WireError::new(
                        ErrorKind::Cancelled,
                        "cancelled while waiting for mail",
                    ));
                }
                Woke::Replaced => {
                    return Err(WireError::new(
                        ErrorKind::Replaced,
                        "a newer waiter for this session took over",
                    ));
                }
                // An empty or failed take took nothing: look again.
                Woke::Taken(_) | Woke::Look => {}
            }
        }
    }

    /// Park a consuming wait of `name` on the database thread (see [`crate::store::Db::park`]).
    fn park_consume(&self, name: &str, limit: u32) -> ParkedRead {
        let consume = Consume {
            key: self.key.clone(),
            name: name.to_owned(),
            limit,
            now: 0.0,
        };
        let peer = self.ctx.peer();
        self.db().park(consume, Box::new(move || !peer.is_gone()))
    }

    /// A wait that a restart cuts short, having found nothing, is refused rather than answered
    /// empty: nothing was taken, and its client asks the next busd instead.
    pub(super) fn not_restarting(&self) -> Result<(), WireError> {
        if self.ctx.closing.is_cancelled() && self.shared.closing() == Closing::Restarting {
            return Err(WireError::new(
                ErrorKind::Restarting,
                "busd is restarting: nothing was taken; ask the next busd again",
            ));
        }
        Ok(())
    }

    async fn look(&self, me: &str, consume: bool, limit: u32) -> Result<Page, WireError> {
        let page = if consume {
            let write = Consume {
                key: self.key.clone(),
                name: me.to_owned(),
                limit,
                now: now(),
            };
            self.db().consume(write).await
        } else {
            self.db().peek(me, limit).await
        };
        page.map_err(refusal)
    }

    /// Record that the bound name has read message `id` (see `Request::MarkRead`).
    pub(super) async fn mark_read(&self, id: i64) -> Result<Response, WireError> {
        let name = self.me()?;
        self.db()
            .mark_read(&name, id, now())
            .await
            .map_err(refusal)?;
        Ok(Response::Done)
    }

    pub(super) async fn message_status(&self, id: i64) -> Result<Response, WireError> {
        let s = self.db().message_status(id).await.map_err(refusal)?;
        Ok(Response::MessageStatus(MessageStatus {
            message_id: s.id,
            sender: s.sender,
            recipient: s.recipient,
            readers: s
                .readers
                .into_iter()
                .map(|r| Receipt {
                    recipient: r.recipient,
                    read_ts: rfc3339(r.read_ts),
                })
                .collect(),
            unread: s.unread,
        }))
    }

    /// Every message after `after`, waiting for the first one up to `wait` seconds.
    pub(super) async fn tail(
        &self,
        after: Option<i64>,
        wait: f64,
        limit: u32,
        cancel: CancellationToken,
    ) -> Result<Response, WireError> {
        limits::limit(limit)?;
        limits::seconds("wait", wait, Some(limits::WAIT_MAX_SECONDS))?;
        let mut newest = self.shared.hub.every_message();
        newest.borrow_and_update();
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(wait);
        let mut after = after;
        loop {
            let Tail { messages, last_id } = self.db().tail(after, limit).await.map_err(refusal)?;
            after = Some(last_id);
            if messages.is_empty() && wait > 0.0 {
                self.not_restarting()?;
            }
            let done = !messages.is_empty()
                || wait == 0.0
                || tokio::time::Instant::now() >= deadline
                || self.ctx.closing.is_cancelled();
            if done {
                let found = !messages.is_empty() || wait == 0.0;
                let page = Response::Tail(TailPage {
                    messages: messages.into_iter().map(message).collect(),
                    last_id,
                });
                return Ok(self.ended(found, page));
            }
            tokio::select! {
                _ = newest.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
                () = self.ctx.closing.cancelled() => {}
                () = cancel.cancelled() => {
                    return Err(WireError::new(ErrorKind::Cancelled, "cancelled while following"));
                }
            }
        }
    }
}

pub(super) fn inbox_page(page: Page) -> InboxPage {
    InboxPage {
        messages: page.messages.into_iter().map(message).collect(),
        pending_count: page.pending,
    }
}

pub(super) fn message(m: MessageRow) -> Message {
    Message {
        id: m.id,
        from: m.sender,
        to: m.recipient,
        content: m.content,
        reply_to: m.reply_to,
        ts: rfc3339(m.ts),
    }
}
