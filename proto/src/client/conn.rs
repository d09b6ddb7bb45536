//! One connection to busd: connect, handshake, then requests out and replies in by id.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use interprocess::local_socket::tokio::Stream;
use interprocess::local_socket::tokio::prelude::*;
use interprocess::local_socket::{GenericFilePath, ToFsName};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::frame::{self, MAX_REPLY_FRAME, MAX_REQUEST_FRAME};
use crate::socket::Socket;
use crate::{Closing, Hello, Reply, Response, Welcome, WireError};

/// How long the daemon may take to answer the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The calls waiting for a reply on this connection; `None` once it has ended.
type Pending = Arc<Mutex<Option<Calls>>>;

/// What a call waiting on its id is told, unless the connection ends first.
pub(crate) enum Outcome {
    /// busd's reply.
    Reply(Result<Response, WireError>),
    /// No reply came by the call's deadline; the id is forgotten.
    Late,
}

#[derive(Default)]
struct Calls {
    waiting: HashMap<u64, Waiting>,
    /// When the reader's one watchdog timer fires, if it is set: never later than the earliest
    /// deadline waiting. One timer per connection, set again only when a call's deadline is
    /// earlier than it, rather than one per call: arming a timer wakes the runtime's driver, a
    /// system call and a turn of the reactor on every call.
    watchdog: Option<Instant>,
}

struct Waiting {
    reply: oneshot::Sender<Outcome>,
    by: Instant,
}

/// What the daemon said about its going away, and when the connection ended.
#[derive(Default)]
struct Fate {
    /// busd's answer to `WatchClosing`: it is stopping or restarting.
    closing: Mutex<Option<Closing>>,
    /// Cancelled when the connection has ended (end of stream, an error, or dropped).
    ended: CancellationToken,
    /// Tells the reader that the watchdog must fire earlier than it is set to.
    rearm: Notify,
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Nothing listens on the socket: no file, or a stale file whose daemon is gone.
    #[error("no daemon answers on {path}: {source}")]
    NoDaemon { path: String, source: io::Error },
    /// The daemon speaks an older protocol and is shutting down as asked.
    #[error("busd (pid {pid}) speaks the older protocol {protocol} and is shutting down")]
    Retiring {
        protocol: u32,
        pid: u32,
        /// Resolves once the old daemon has closed the connection (it is gone).
        gone: Box<Socket>,
    },
    /// Something accepted the connection but did not answer the handshake (a stopped busd).
    #[error("busd accepted the connection but did not answer the handshake within {0:?}")]
    NoHandshake(Duration),
    /// The daemon refused the handshake; the error says why.
    #[error("{0}")]
    Refused(WireError),
    /// The socket's folder or the process listening on it is not this user's: nothing was sent.
    #[error("{0}")]
    Untrusted(String),
    #[error("talking to busd failed: {0}")]
    Io(#[from] io::Error),
}

/// The daemon's side of a successful handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonInfo {
    pub protocol: u32,
    pub version: String,
    pub pid: u32,
}

/// An open, handshaken connection. Dropping it stops its reader.
pub(crate) struct Conn {
    writer: tokio::sync::Mutex<FramedWrite<WriteHalf<Socket>, LengthDelimitedCodec>>,
    pending: Pending,
    fate: Arc<Fate>,
    pub(crate) info: DaemonInfo,
    _reader: DropGuard,
}

impl Conn {
    /// Connect to the socket at `path` and handshake.
    pub(crate) async fn open(path: &Path, hello: &Hello) -> Result<Conn, OpenError> {
        let folder = path.parent().unwrap_or(Path::new(""));
        crate::private::check_dir(folder, "the socket's folder")
            .map_err(|e| OpenError::Untrusted(e.to_string()))?;
        let name = path.to_fs_name::<GenericFilePath>()?;
        let stream = Stream::connect(name).await.map_err(|source| {
            if matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) {
                OpenError::NoDaemon {
                    path: path.display().to_string(),
                    source,
                }
            } else {
                OpenError::Io(source)
            }
        })?;
        check_listener(&stream, path)?;
        let (read, write) = tokio::io::split(Socket::new(stream)?);
        let mut reader = FramedRead::new(read, frame::codec(MAX_REPLY_FRAME));
        let mut writer = FramedWrite::new(write, frame::codec(MAX_REQUEST_FRAME));

        writer.send(encode(hello)?).await?;
        let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.next())
            .await
            .map_err(|_| OpenError::NoHandshake(HANDSHAKE_TIMEOUT))?
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "busd closed the connection during the handshake",
                )
            })??;
        let welcome: Welcome =
            frame::decode(&first).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let info = match welcome {
            Welcome::Accepted {
                protocol,
                version,
                pid,
            } => DaemonInfo {
                protocol,
                version,
                pid,
            },
            Welcome::Retiring { protocol, pid } => {
                let stream = reader.into_inner().unsplit(writer.into_inner());
                return Err(OpenError::Retiring {
                    protocol,
                    pid,
                    gone: Box::new(stream),
                });
            }
            Welcome::Refused { error, .. } => return Err(OpenError::Refused(error)),
        };

        let pending: Pending = Arc::new(Mutex::new(Some(Calls::default())));
        let fate = Arc::new(Fate::default());
        let stop = CancellationToken::new();
        tokio::spawn(read_replies(
            reader,
            pending.clone(),
            fate.clone(),
            stop.clone(),
        ));
        Ok(Conn {
            writer: tokio::sync::Mutex::new(writer),
            pending,
            fate,
            info,
            _reader: stop.drop_guard(),
        })
    }

    /// Whether new calls may use this connection: open, and its daemon not going away.
    pub(crate) fn is_alive(&self) -> bool {
        self.pending.lock().unwrap().is_some() && self.closing().is_none()
    }

    /// How the daemon said it is going away, if it has (see [`crate::Request::WatchClosing`]).
    /// Read after a reply arrives, it covers that reply: busd says it first.
    pub(crate) fn closing(&self) -> Option<Closing> {
        *self.fate.closing.lock().unwrap()
    }

    /// Resolves when the connection has ended.
    pub(crate) fn ended(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.fate.ended.clone().cancelled_owned()
    }

    /// Register interest in the reply to `id`, to come by `by` (then it is [`Outcome::Late`]).
    /// The receiver fails if the connection closes before either.
    pub(crate) fn expect(&self, id: u64, by: Instant) -> oneshot::Receiver<Outcome> {
        let (reply, rx) = oneshot::channel();
        let mut pending = self.pending.lock().unwrap();
        if let Some(calls) = pending.as_mut() {
            calls.waiting.insert(id, Waiting { reply, by });
            if calls.watchdog.is_none_or(|at| by < at) {
                calls.watchdog = Some(by);
                drop(pending);
                self.fate.rearm.notify_one();
            }
        }
        rx
    }

    /// Forget a reply we no longer wait for.
    pub(crate) fn forget(&self, id: u64) {
        if let Some(calls) = self.pending.lock().unwrap().as_mut() {
            calls.waiting.remove(&id);
        }
    }

    pub(crate) async fn send(&self, frame: Bytes) -> io::Result<()> {
        let result = self.writer.lock().await.send(frame).await;
        if result.is_err() {
            self.close();
        }
        result
    }

    /// Fail every waiting call; later calls open a new connection.
    pub(crate) fn close(&self) {
        self.pending.lock().unwrap().take();
    }
}

/// Refuse a socket served by a process of another user before anything is sent to it: anyone
/// who could bind the path first would otherwise receive this user's requests.
fn check_listener(stream: &Stream, path: &Path) -> Result<(), OpenError> {
    use interprocess::local_socket::traits::StreamCommon;
    let ours = crate::private::current_uid();
    let creds = stream.peer_creds().map_err(|e| {
        OpenError::Untrusted(format!(
            "cannot tell who listens on {}: {e}; nothing was sent",
            path.display()
        ))
    })?;
    match creds.euid() {
        Some(uid) if uid == ours => Ok(()),
        uid => Err(OpenError::Untrusted(format!(
            "refusing the socket {}: it is served by {}, not by you (uid {ours}); nothing was sent. Remove it if it is stale, or set BUS_SOCKET to a path in a folder only you can write",
            path.display(),
            uid.map_or("an unknown user".to_string(), |u| format!("uid {u}"))
        ))),
    }
}

fn encode<T: serde::Serialize>(value: &T) -> io::Result<Bytes> {
    frame::encode(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Hand each reply to the call waiting for its id until the connection ends.
async fn read_replies(
    mut reader: FramedRead<ReadHalf<Socket>, LengthDelimitedCodec>,
    pending: Pending,
    fate: Arc<Fate>,
    stop: CancellationToken,
) {
    let _ended = fate.ended.clone().drop_guard();
    let mut watchdog = std::pin::pin!(tokio::time::sleep_until(Instant::now()));
    let mut armed = false;
    loop {
        let frame = tokio::select! {
            frame = reader.next() => frame,
            () = stop.cancelled() => break,
            () = fate.rearm.notified() => {
                armed = arm(watchdog.as_mut(), watchdog_time(&pending));
                continue;
            }
            () = &mut watchdog, if armed => {
                armed = arm(watchdog.as_mut(), tell_the_late(&pending));
                continue;
            }
        };
        let Some(Ok(frame)) = frame else { break };
        let Ok(reply) = frame::decode::<Reply>(&frame) else {
            tracing::warn!("busd sent a reply that does not decode; reconnecting");
            break;
        };
        if let Ok(Response::Closing(how)) = &reply.body {
            *fate.closing.lock().unwrap() = Some(*how);
        }
        let waiter = pending
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|calls| calls.waiting.remove(&reply.id));
        if let Some(waiter) = waiter {
            let _ = waiter.reply.send(Outcome::Reply(reply.body));
        }
    }
    // Dropping the senders wakes every waiting call with "connection closed"; then the
    // guard tells whoever watches the connection that it has ended.
    pending.lock().unwrap().take();
}

fn watchdog_time(pending: &Pending) -> Option<Instant> {
    pending.lock().unwrap().as_ref().and_then(|c| c.watchdog)
}

/// Set the watchdog to `at`; whether it is set.
fn arm(watchdog: std::pin::Pin<&mut tokio::time::Sleep>, at: Option<Instant>) -> bool {
    match at {
        Some(at) => {
            watchdog.reset(at);
            true
        }
        None => false,
    }
}

/// Tell each call whose deadline has passed that no reply came; when the watchdog must fire
/// next, if any call still waits.
fn tell_the_late(pending: &Pending) -> Option<Instant> {
    let mut pending = pending.lock().unwrap();
    let calls = pending.as_mut()?;
    let now = Instant::now();
    for (_, late) in calls.waiting.extract_if(|_, w| w.by <= now) {
        let _ = late.reply.send(Outcome::Late);
    }
    calls.watchdog = calls.waiting.values().map(|w| w.by).min();
    calls.watchdog
}
