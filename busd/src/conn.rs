//! One client connection: peer check, handshake, then requests in and replies out.
//!
//! Requests run concurrently (a waiting `inbox` does not hold up a `send` on the same
//! connection), at most [`MAX_IN_FLIGHT`] at once: past that the connection stops reading, so a
//! client that floods or stops reading its replies only ever slows itself down. Anything that
//! is not a well-formed frame closes the connection; every other client keeps being served.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use interprocess::local_socket::tokio::Stream;
use interprocess::local_socket::traits::StreamCommon;
use proto::frame::{self, MAX_REPLY_FRAME, MAX_REQUEST_FRAME};
use proto::{Envelope, ErrorKind, Hello, Reply, Request, Response, Welcome, WireError};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::handlers;
use crate::presence::{Binding, ConnId, Identity, Peer};
use crate::server::Shared;
use crate::store::Write;

/// How long a client has to send its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests one connection may have running at once.
const MAX_IN_FLIGHT: usize = 64;
/// How long a reply may wait for a client that does not read, once the connection is closing.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What handlers know about the connection they serve.
pub(crate) struct ConnCtx {
    pub id: ConnId,
    pub hello: Hello,
    /// The connection's socket, valid while the connection is served (handlers end first).
    socket: RawFd,
    pub identity: Binding,
    in_flight: Mutex<HashMap<u64, CancellationToken>>,
}

impl ConnCtx {
    /// A watch on this connection's socket, for presence to tell whether the peer is still
    /// there (taken when a name is bound, so other connections cost no extra descriptor).
    pub fn peer(&self) -> Peer {
        // SAFETY: the socket stays open until `serve` returns, which is after every handler
        // (the only callers) has finished.
        Peer::watch(unsafe { BorrowedFd::borrow_raw(self.socket) })
    }

    /// The bound name, if any.
    pub fn name(&self) -> Option<String> {
        self.identity.name()
    }
}

pub(crate) async fn serve(stream: Stream, shared: Arc<Shared>) {
    let id = shared.next_conn();
    if let Err(why) = check_peer(&stream) {
        tracing::warn!(conn = id, "refused a connection: {why}");
        return;
    }
    let Stream::UdSocket(socket) = &stream;
    let socket = std::os::fd::AsFd::as_fd(socket).as_raw_fd();
    let (read, write) = tokio::io::split(stream);
    let mut reader = FramedRead::new(read, frame::codec(MAX_REQUEST_FRAME));
    let mut writer = FramedWrite::new(write, frame::codec(MAX_REPLY_FRAME));

    let hello = match handshake(id, &shared, &mut reader, &mut writer).await {
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
    });

    let (replies, mut outbox) = mpsc::channel::<Reply>(MAX_IN_FLIGHT);
    let writer_task = tokio::spawn(async move {
        while let Some(reply) = outbox.recv().await {
            let Some(bytes) = encode_reply(reply) else {
                continue;
            };
            if writer.send(bytes).await.is_err() {
                break;
            }
        }
    });

    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let requests = TaskTracker::new();
    let gone = CancellationToken::new();
    loop {
        let frame = tokio::select! {
            frame = reader.next() => frame,
            () = shared.stopping.cancelled() => break,
        };
        let envelope = match frame {
            None => break,
            Some(Err(e)) => {
                tracing::warn!(conn = id, "refused a frame: {e}; closing the connection");
                break;
            }
            Some(Ok(bytes)) => match frame::decode::<Envelope>(&bytes) {
                Ok(envelope) => envelope,
                Err(e) => {
                    tracing::warn!(conn = id, "refused a request: {e}; closing the connection");
                    break;
                }
            },
        };
        if let Request::Cancel { id: target } = envelope.body {
            if let Some(token) = ctx.in_flight.lock().unwrap().get(&target) {
                token.cancel();
            }
            let _ = replies.try_send(Reply {
                id: envelope.id,
                body: Ok(Response::Done),
            });
            continue;
        }
        // A full connection stops reading until a call ends (or busd stops).
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            () = shared.stopping.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
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
            let _ = replies.send(Reply { id: envelope.id, body }).await;
            drop(permit);
        });
    }

    // The client is gone (or busd is stopping): waits end now unless busd is stopping, in
    // which case they end by themselves with what they have.
    if !shared.stopping.is_cancelled() {
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

/// Free a session's name and note when it was last seen.
pub(crate) async fn release_name(shared: &Shared, conn: ConnId, name: String) {
    if shared.presence.unbind(&name, conn) {
        let now = proto::time::now();
        if let Err(e) = shared.db.write(Write::Touch { name, now }).await {
            tracing::warn!(conn, error = %e, "could not record last_seen");
        }
    }
}

/// Only processes of busd's own user may connect.
fn check_peer(stream: &Stream) -> Result<(), String> {
    let creds = stream
        .peer_creds()
        .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let ours = unsafe { libc::getuid() };
    match creds.euid() {
        Some(uid) if uid == ours => Ok(()),
        Some(uid) => Err(format!("peer uid {uid} is not busd's uid {ours}")),
        None => Err("the peer's uid is unknown".into()),
    }
}

enum Handshake {
    Accepted(Hello),
    Close,
    /// A newer client asked this daemon to retire.
    Retire,
}

/// Read and answer the handshake.
async fn handshake<R, W>(
    id: ConnId,
    shared: &Shared,
    reader: &mut FramedRead<R, tokio_util::codec::LengthDelimitedCodec>,
    writer: &mut FramedWrite<W, tokio_util::codec::LengthDelimitedCodec>,
) -> Handshake
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let first = match tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.next()).await {
        Ok(Some(Ok(bytes))) => bytes,
        Ok(Some(Err(e))) => {
            tracing::warn!(conn = id, "refused a handshake frame: {e}");
            return Handshake::Close;
        }
        Ok(None) => return Handshake::Close,
        Err(_) => {
            tracing::warn!(
                conn = id,
                "no handshake within {HANDSHAKE_TIMEOUT:?}; closing"
            );
            return Handshake::Close;
        }
    };
    let hello: Hello = match frame::decode(&first) {
        Ok(hello) => hello,
        Err(e) => {
            tracing::warn!(conn = id, "refused a handshake that does not decode: {e}");
            return Handshake::Close;
        }
    };
    let ours = shared.config.protocol;
    let welcome = if hello.protocol == ours {
        Welcome::Accepted {
            protocol: ours,
            version: proto::VERSION.to_owned(),
            pid: std::process::id(),
        }
    } else if hello.protocol > ours && hello.retire_older {
        tracing::info!(
            conn = id,
            theirs = hello.protocol,
            ours,
            "a newer client asked busd to retire"
        );
        shared.stop_requested.cancel();
        Welcome::Retiring {
            protocol: ours,
            pid: std::process::id(),
        }
    } else {
        let message = if hello.protocol < ours {
            format!(
                "this client speaks protocol {} but busd {} speaks {ours}: update claude-bus so that bus-shim and bus match busd",
                hello.protocol,
                proto::VERSION
            )
        } else {
            format!(
                "busd {} speaks the older protocol {ours} and this client ({}) did not ask it to retire: run `bus stop`, then retry",
                proto::VERSION,
                hello.protocol
            )
        };
        tracing::warn!(
            conn = id,
            theirs = hello.protocol,
            ours,
            "refused a handshake: other protocol"
        );
        Welcome::Refused {
            protocol: ours,
            error: WireError::new(ErrorKind::Handshake, message),
        }
    };
    let sent = match frame::encode(&welcome) {
        Ok(bytes) => writer.send(bytes).await.is_ok(),
        Err(_) => false,
    };
    match welcome {
        Welcome::Accepted { .. } if sent => Handshake::Accepted(hello),
        Welcome::Retiring { .. } if sent => Handshake::Retire,
        _ => Handshake::Close,
    }
}

fn encode_reply(reply: Reply) -> Option<bytes::Bytes> {
    let id = reply.id;
    match frame::encode(&reply) {
        Ok(bytes) if bytes.len() <= MAX_REPLY_FRAME => Some(bytes),
        Ok(bytes) => {
            let error = WireError::new(
                ErrorKind::TooLarge,
                format!(
                    "the answer is {} bytes, over the limit of {MAX_REPLY_FRAME}: ask for less (one key, a smaller limit)",
                    bytes.len()
                ),
            );
            frame::encode(&Reply {
                id,
                body: Err(error),
            })
            .ok()
        }
        Err(e) => {
            tracing::error!(error = %e, "a reply does not encode");
            None
        }
    }
}
