//! One client connection's loop: after the peer check (`listener.rs`) and the handshake
//! (`handshake.rs`), requests in, each run by a handler, and replies out (`outbox.rs`).
//!
//! Requests run concurrently (a waiting `inbox` does not hold up a `send` on the same
//! connection). Calls that do not wait run at most [`MAX_IN_FLIGHT`] at once: past that the
//! connection stops reading until one answers, so a client that floods or does not read its
//! answers only ever slows itself down. Calls that wait are parked at most [`MAX_WAITING`] at
//! once: past that one is refused with `ErrorKind::Busy`, so a connection full of waits is
//! still read — a `Cancel` reaches its call, a call that does not wait runs, and the client's
//! end is seen at once (its waits end before they can take mail). Anything that is not a
//! well-formed frame, or a frame that stalls half sent ([`intake`]), closes the connection;
//! every other client keeps being served. When busd shuts down, the connection's
//! `WatchClosing` is told how (stopping or restarting) before its waits are cut short.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interprocess::local_socket::tokio::Stream;
use proto::frame::{self, MAX_REPLY_FRAME, MAX_REQUEST_FRAME};
use proto::socket::Socket;
use proto::{Envelope, ErrorKind, Reply, Request, Response, WireError};
use tokio::io::BufReader;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::handlers;
use crate::handshake::{self, Handshake};
use crate::identity::{Binding, ConnCtx, Identity, release_name};
use crate::intake::{self, IntakeError};
use crate::listener::check_peer;
use crate::shared::{MAX_CONNECTIONS, Shared};

/// Calls that do not wait one connection may have running at once.
const MAX_IN_FLIGHT: usize = 64;
/// Calls that wait for mail one connection may have parked at once.
const MAX_WAITING: usize = 64;
/// Replies queued for the writer: one per call in flight, and as many immediate answers.
const OUTBOX: usize = 2 * (MAX_IN_FLIGHT + MAX_WAITING);
/// How long a reply may wait for a client that does not read, once the connection is closing.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn serve(stream: Stream, shared: Arc<Shared>, _slot: OwnedSemaphorePermit) {
    let id = shared.next_conn();
    if let Err(why) = check_peer(&stream) {
        tracing::warn!(conn = id, "refused a connection: {why}");
        return;
    }
    let stream = match Socket::new(stream) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!(conn = id, error = %e, "could not register a connection");
            return;
        }
    };
    let socket = stream.as_raw_fd();
    let (read, write) = tokio::io::split(stream);
    let mut reader = BufReader::new(read);
    let mut writer = FramedWrite::new(write, frame::codec(MAX_REPLY_FRAME));

    let hello = match handshake::answer(id, &shared, &mut reader, &mut writer).await {
        Handshake::Accepted(hello) => hello,
        Handshake::Close => return,
        Handshake::Retire => {
            // Keep this connection open until the process exits: its end tells the newer
            // client that this daemon is gone and it may start its own.
            std::mem::forget((reader, writer));
            return;
        }
    };
    tracing::info!(
        conn = id,
        kind = ?hello.kind,
        pid = hello.pid,
        session = hello.session_id.as_deref().unwrap_or("-"),
        "connected"
    );
    shared.presence.connection_opened();
    let ctx = Arc::new(ConnCtx {
        id,
        hello,
        socket,
        identity: Binding::default(),
        in_flight: Mutex::new(HashMap::new()),
        closing: CancellationToken::new(),
    });

    let (replies, outbox) = mpsc::channel::<Reply>(OUTBOX);
    let protocol = ctx.hello.protocol;
    let writer_task = tokio::spawn(crate::outbox::write_replies(outbox, writer, protocol));

    let calls_left = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let waits_left = Arc::new(Semaphore::new(MAX_WAITING));
    let requests = TaskTracker::new();
    let gone = CancellationToken::new();
    // The id of this connection's `WatchClosing`, answered when busd shuts down.
    let mut watch = None;
    loop {
        let read = intake::read_frame(&mut reader, MAX_REQUEST_FRAME, &shared.budget);
        let frame = tokio::select! {
            frame = read => frame,
            () = shared.stopping.cancelled() => break,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(IntakeError::Closed) => break,
            Err(e) => {
                tracing::warn!(conn = id, "refused a frame: {e}; closing the connection");
                break;
            }
        };
        let envelope = match frame::decode::<Envelope>(&frame.payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(conn = id, "refused a request: {e}; closing the connection");
                break;
            }
        };
        let request_id = envelope.id;
        // Answered here, however many calls are in flight, so that a connection full of
        // waits is still read: a cancel reaches its call, and the client's end is seen at once.
        let immediate = match envelope.body {
            Request::Cancel { id: target } => {
                if let Some(token) = ctx.in_flight.lock().unwrap().get(&target) {
                    token.cancel();
                }
                Ok(Response::Done)
            }
            Request::WatchClosing => {
                watch = Some(request_id);
                continue;
            }
            ref body if waits(body) => match waits_left.clone().try_acquire_owned() {
                Ok(slot) => {
                    let held = (frame.held, slot);
                    spawn(&requests, &shared, &ctx, &replies, &gone, envelope, held);
                    continue;
                }
                Err(_) => Err(WireError::new(
                    ErrorKind::Busy,
                    format!(
                        "this connection has {MAX_WAITING} calls waiting already: let one end, or cancel one, then retry"
                    ),
                )),
            },
            _ => {
                // Calls that do not wait end by themselves: past the limit the connection
                // stops reading until one has answered (a client that does not read its
                // answers only slows itself down).
                let slot = tokio::select! {
                    slot = calls_left.clone().acquire_owned() => slot,
                    () = shared.stopping.cancelled() => break,
                };
                let Ok(slot) = slot else { break };
                let held = (frame.held, slot);
                spawn(&requests, &shared, &ctx, &replies, &gone, envelope, held);
                continue;
            }
        };
        let reply = Reply {
            id: request_id,
            body: immediate,
        };
        // Every call in flight has room for its reply; an immediate answer to a client that
        // reads none of them is dropped, as it would never be read.
        if replies.try_send(reply).is_err() {
            tracing::debug!(conn = id, "the client does not read its replies");
        }
    }

    if shared.stopping.is_cancelled() {
        // Say how busd goes away before any wait here is cut short, so the client reads that
        // first; then end the waits (they answer with what they have, or `Restarting`).
        if let Some(watch) = watch {
            let body = Ok(Response::Closing(shared.closing()));
            let _ = replies.try_send(Reply { id: watch, body });
        }
        ctx.closing.cancel();
    } else {
        // The client is gone: its waits end before they can take anything.
        gone.cancel();
    }
    requests.close();
    requests.wait().await;
    drop(replies);
    let _ = tokio::time::timeout(FLUSH_TIMEOUT, writer_task).await;

    let identity = ctx.identity.take();
    if let Identity::Session(name) = identity {
        release_name(&shared, id, name).await;
    }
    shared.presence.detach(id);
    shared.presence.connection_closed();
    tracing::info!(conn = id, "disconnected");
}

/// Run one request in its own task; its frame's bytes stay taken until it has answered.
fn spawn(
    requests: &TaskTracker,
    shared: &Arc<Shared>,
    ctx: &Arc<ConnCtx>,
    replies: &mpsc::Sender<Reply>,
    gone: &CancellationToken,
    envelope: Envelope,
    held: (Option<OwnedSemaphorePermit>, OwnedSemaphorePermit),
) {
    let cancel = gone.child_token();
    ctx.in_flight
        .lock()
        .unwrap()
        .insert(envelope.id, cancel.clone());
    let (shared, ctx, replies) = (shared.clone(), ctx.clone(), replies.clone());
    requests.spawn(async move {
        let name = envelope.body.name();
        let body = handlers::handle(&shared, &ctx, envelope.id, envelope.body, cancel).await;
        if let Err(e) = &body {
            tracing::info!(conn = ctx.id, request = name, kind = ?e.kind, "refused: {}", e.message);
        }
        ctx.in_flight.lock().unwrap().remove(&envelope.id);
        let _ = replies
            .send(Reply {
                id: envelope.id,
                body,
            })
            .await;
        drop(held);
    });
}

/// Whether a request may wait (for mail, a reply or a change of state).
fn waits(request: &Request) -> bool {
    request.wait() > 0.0
}

/// How long a refused connection may take to send its hello.
const REFUSAL_READ: Duration = Duration::from_secs(2);

/// Answer a connection over [`MAX_CONNECTIONS`] with a refusal that says so, and close it.
pub(crate) async fn refuse(stream: Stream, shared: Arc<Shared>) {
    if let Err(why) = check_peer(&stream) {
        tracing::warn!("refused a connection: {why}");
        return;
    }
    tracing::warn!("refused a connection: {MAX_CONNECTIONS} connections are open");
    let Ok(stream) = Socket::new(stream) else {
        return;
    };
    let (read, write) = tokio::io::split(stream);
    // Take the client's hello first (briefly): a client writes it before it reads, and
    // closing on it unread would break its write instead of giving it the refusal.
    let mut reader = BufReader::new(read);
    let _ = tokio::time::timeout(
        REFUSAL_READ,
        intake::read_frame(&mut reader, MAX_REQUEST_FRAME, &shared.budget),
    )
    .await;
    let mut writer = FramedWrite::new(write, frame::codec(MAX_REPLY_FRAME));
    handshake::refuse_busy(&shared, &mut writer, MAX_CONNECTIONS).await;
}
