//! Request handlers: validate, apply through the database thread, answer with wire types.
//!
//! Handlers see storage only through [`Db`]'s typed calls, never a database, so a different
//! backend slots in without touching them. Every refusal is a [`WireError`] whose
//! message says what was wrong and what to do.

mod mail;
mod replay;
mod session;
mod state;
mod tokens;
mod wait;
mod watch;

use proto::{Closing, ErrorKind, Request, Response, WireError};
use tokio_util::sync::CancellationToken;

use crate::identity::ConnCtx;
use crate::shared::Shared;
use crate::store::{Db, RequestKey, StoreError};
use replay::Resend;

pub(crate) async fn handle(
    shared: &Shared,
    ctx: &ConnCtx,
    request_id: u64,
    request: Request,
    cancel: CancellationToken,
) -> Result<Response, WireError> {
    let key = request.is_effectful().then(|| RequestKey {
        client: ctx.hello.client_id.clone(),
        request: request_id,
    });
    let resend = key.as_ref().and_then(|key| Resend::of(key, &request));
    let h = Handler { shared, ctx, key };
    match (h.dispatch(request, cancel).await, resend) {
        // A request applied before (its reply lost in a crash) is answered as the first time,
        // whatever would refuse it now: the name it acted as may be another session's by now.
        // Storage checks the key before it applies anything, so only a refusal of the handler's
        // own (identity, limits) can come before the lookup: it is looked up then, which costs
        // the calls that succeed nothing.
        // A restart's refusal is not looked up: it took nothing, and its client asks the next
        // busd, where the record answers (an ask then waits on for its reply).
        (Err(refused), Some(resend)) if refused.kind != ErrorKind::Restarting => {
            h.replayed(resend).await.unwrap_or(Err(refused))
        }
        (answer, _) => answer,
    }
}

impl Handler<'_> {
    async fn dispatch(
        &self,
        request: Request,
        cancel: CancellationToken,
    ) -> Result<Response, WireError> {
        let (h, shared, ctx) = (self, self.shared, self.ctx);
        match request {
            Request::Register { name, role, owns } => h.register(name, role, owns).await,
            Request::ActAs { name } => h.act_as(name).await,
            Request::Whoami => Ok(h.whoami()),
            Request::Resolve {
                session_ids,
                host,
                wait,
            } => h.resolve(session_ids, host, wait).await,
            Request::Attach { host, naming } => Ok(h.attach(host, naming)),
            Request::Agents { active_within, all } => h.agents(active_within, all).await,
            Request::Send {
                to,
                content,
                reply_to,
            } => h.send(to, content, reply_to).await,
            Request::Inbox {
                consume,
                limit,
                wait,
                waiter,
            } => h.inbox(consume, limit, wait, waiter, cancel).await,
            Request::MessageStatus { message_id } => h.message_status(message_id).await,
            Request::MarkRead { message_id } => h.mark_read(message_id).await,
            Request::SetState {
                key,
                value,
                expected_version,
                mode,
            } => h.set_state(key, value, expected_version, mode).await,
            Request::GetState { key } => h.get_state(key).await,
            Request::ListState => h.list_state().await,
            Request::Claim { path, ttl } => h.claim(path, ttl).await,
            Request::Release { path } => h.release(path).await,
            Request::ListClaims => h.list_claims().await,
            Request::Tail { after, wait, limit } => h.tail(after, wait, limit, cancel).await,
            Request::Status => h.status().await,
            Request::Shutdown => {
                tracing::info!(conn = ctx.id, "shutdown requested by a client");
                shared.stop(Closing::Stopping);
                Ok(Response::Done)
            }
            Request::Restart => {
                tracing::info!(conn = ctx.id, "restart requested by a client");
                shared.stop(Closing::Restarting);
                Ok(Response::Done)
            }
            Request::TokenCreate { name, role } => h.token_create(name, role).await,
            Request::TokenList => h.token_list().await,
            Request::TokenRevoke { name } => h.token_revoke(name).await,
            Request::Authenticate { token } => h.authenticate(token).await,
            // Answered by the connection itself, before it reaches a handler.
            Request::Cancel { .. } | Request::WatchClosing => Ok(Response::Done),
            Request::WaitState {
                key,
                after_version,
                wait,
            } => h.wait_state(key, after_version, wait, cancel).await,
            Request::Ask {
                to,
                content,
                reply_to,
                wait,
            } => h.ask(to, content, reply_to, wait, cancel).await,
            Request::Thread { id } => h.thread(id).await,
            Request::AwaitParked { name, wait } => h.await_parked(name, wait, cancel).await,
            Request::Watch { after, wait } => h.watch(after, wait, cancel).await,
        }
    }
}

/// One request's view of the daemon.
pub(crate) struct Handler<'a> {
    shared: &'a Shared,
    ctx: &'a ConnCtx,
    /// Set for effectful requests: applied at most once.
    key: Option<RequestKey>,
}

impl Handler<'_> {
    /// The bound name, or the "register first" refusal.
    fn me(&self) -> Result<String, WireError> {
        self.ctx.name().ok_or_else(WireError::not_registered)
    }

    fn db(&self) -> &Db {
        &self.shared.db
    }
}

/// The wire error for a storage error, in docs/SPEC.md's words.
fn refusal(e: StoreError) -> WireError {
    let (kind, message) = match &e {
        StoreError::UnknownMessage(id) => (
            ErrorKind::NotFound,
            format!("no message with id {id}: check the id returned by send or inbox"),
        ),
        StoreError::UnknownReplyTo(id) => (
            ErrorKind::NotFound,
            format!(
                "reply_to {id} is not a message id: pass the id of an existing message, or leave reply_to out"
            ),
        ),
        StoreError::Stale {
            key,
            expected,
            current,
        } => (
            ErrorKind::Conflict,
            format!(
                "stale write: expected_version {expected} != current {current}; re-read {key} and retry"
            ),
        ),
        StoreError::Claimed {
            path,
            owner,
            seconds_left,
        } => (
            ErrorKind::Conflict,
            format!(
                "'{path}' is claimed by '{owner}' for another {}s: ask them, or wait",
                seconds_left.ceil()
            ),
        ),
        StoreError::NotOwner { path, owner } => (
            ErrorKind::Forbidden,
            format!("'{path}' is claimed by '{owner}', not by you: only its owner can release it"),
        ),
        StoreError::TooLarge(bytes) => (
            ErrorKind::TooLarge,
            format!(
                "value would be {bytes} bytes, over the limit of {}: store less, or split it over several keys",
                proto::limits::VALUE_MAX_BYTES
            ),
        ),
        StoreError::KeyReused {
            request,
            first,
            now,
        } => (
            ErrorKind::InvalidArgument,
            format!(
                "request id {request} was already used by this client for {}, not {}: give every request its own id",
                first.as_deref().unwrap_or("another command"),
                now.name()
            ),
        ),
        StoreError::TokenExists(name) => (
            ErrorKind::Conflict,
            format!(
                "'{name}' has a token already: `bus token revoke {name}` first to make a new one"
            ),
        ),
        StoreError::Io(source) => (
            ErrorKind::Storage,
            format!(
                "the database refused the write ({source}); nothing was saved: free disk space, then retry"
            ),
        ),
        StoreError::Unreachable { server, reason } => (
            ErrorKind::Storage,
            format!(
                "the shared bus database at {server} is unreachable: {reason}; retrying: call again in a moment (a resent call is applied at most once)"
            ),
        ),
        StoreError::Closed => (
            ErrorKind::ShuttingDown,
            "busd is shutting down: retry in a moment".to_owned(),
        ),
    };
    WireError::new(kind, message)
}
