//! The client side of the socket, shared by `bus-shim` and `bus`.
//!
//! A [`Client`] keeps one connection to busd and multiplexes calls over it. When the connection
//! breaks (busd crashed, restarted or was upgraded), the next call reconnects — starting busd if
//! none comes back — binds the same identity again, and resends every interrupted call with its
//! original request id, which busd answers at most once. A client that stays connected (a
//! shim) does so at once, when it sees the connection end, unless busd said it was stopping for
//! good. Every call has a deadline for busd's answer, so a daemon that stopped answering (a
//! stopped process) is named instead of waited on forever.

pub mod call;
mod conn;
mod start;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

pub use call::{Answer, Call};
pub use conn::{DaemonInfo, OpenError};
pub use start::{RunningBusd, StartError, find_busd, find_program, running_busd, spawn_daemon};

use crate::frame::{self, MAX_REQUEST_FRAME};
use crate::paths::BusPaths;
use crate::{
    ClientKind, Closing, Envelope, ErrorKind, Hello, PROTOCOL_VERSION, Request, Response, WireError,
};
use conn::{Conn, Outcome};

/// How many times one call may lose its connection before it gives up.
const MAX_LOSSES: u32 = 5;

/// How a [`Client`] finds and treats the daemon.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub paths: BusPaths,
    pub kind: ClientKind,
    /// `CLAUDE_CODE_SESSION_ID` of the session served, sent in the handshake.
    pub session_id: Option<String>,
    /// Start busd when none answers.
    pub autostart: bool,
    /// The busd executable; default: `BUS_DAEMON`, beside this executable, then PATH.
    pub busd: Option<PathBuf>,
    /// How long a call keeps trying to reach a daemon (including starting one) before it fails.
    pub reconnect_for: Duration,
    /// How long busd may take to answer a call, beyond the time a waiting call asked to wait.
    pub answer_within: Duration,
    /// Reconnect and bind the identity again as soon as the connection ends, not at the next
    /// call (unless busd said it is stopping for good), so that an idle session stays online.
    pub stay_connected: bool,
    /// Announce a protocol other than ours (tests of version handling only).
    pub protocol: u32,
}

impl ClientOptions {
    /// The defaults for a bus: no session id, start busd when none answers (found the usual
    /// way), 15 s to get a daemon back, 30 s for an answer (beyond a wait), a shim stays
    /// connected, our protocol.
    pub fn new(paths: BusPaths, kind: ClientKind) -> Self {
        ClientOptions {
            paths,
            kind,
            session_id: None,
            autostart: true,
            busd: None,
            reconnect_for: Duration::from_secs(15),
            answer_within: Duration::from_secs(30),
            stay_connected: kind == ClientKind::Shim,
            protocol: PROTOCOL_VERSION,
        }
    }

    /// Options from the environment (`BUS_DB`, `BUS_SOCKET`, `CLAUDE_CODE_SESSION_ID`).
    pub fn from_env(kind: ClientKind) -> std::io::Result<Self> {
        Ok(ClientOptions {
            session_id: std::env::var("CLAUDE_CODE_SESSION_ID")
                .ok()
                .filter(|s| !s.is_empty()),
            ..ClientOptions::new(BusPaths::from_env()?, kind)
        })
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// busd answered with an error.
    #[error("{0}")]
    Refused(WireError),
    /// No daemon could be reached or started.
    #[error("{0}")]
    Unavailable(String),
    /// busd took the call but did not answer within its deadline (stopped, or stuck).
    #[error("{0}")]
    NoAnswer(String),
    /// busd answered with a reply of another request's shape: it speaks another version.
    #[error("{0}")]
    Unexpected(String),
}

impl ClientError {
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ClientError::Refused(e) => Some(e.kind),
            ClientError::Unavailable(_) | ClientError::NoAnswer(_) | ClientError::Unexpected(_) => {
                None
            }
        }
    }
}

/// The answer to a waiting call, and whether busd ended the wait because it is stopping.
#[derive(Debug, Clone, PartialEq)]
pub struct Waited<T = Response> {
    pub response: T,
    /// busd answered `Response::Stopped`: it cut the wait short, having found nothing,
    /// because it is stopping for good, and no busd will answer another until one is started.
    pub stopping: bool,
}

/// A multiplexing, self-healing connection to busd. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    opts: ClientOptions,
    client_id: String,
    next_id: AtomicU64,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    /// The identity to bind again after a reconnect: the last successful `Register`/`ActAs`.
    rebind: Mutex<Option<Request>>,
    /// Why the identity was lost on the last reconnect (its name was taken meanwhile).
    lost: Mutex<Option<WireError>>,
    /// The Claude Code process this client serves, told to each new connection
    /// (`Request::Attach`), before its identity.
    host: Mutex<Option<crate::Host>>,
}

impl Client {
    pub fn new(opts: ClientOptions) -> Client {
        Client {
            inner: Arc::new(Inner {
                opts,
                client_id: random_id(),
                next_id: AtomicU64::new(1),
                conn: tokio::sync::Mutex::new(None),
                rebind: Mutex::new(None),
                lost: Mutex::new(None),
                host: Mutex::new(None),
            }),
        }
    }

    /// Connect now (starting busd if allowed), so that a missing daemon shows early.
    pub async fn connect(&self) -> Result<DaemonInfo, ClientError> {
        let deadline = Instant::now() + self.inner.opts.reconnect_for;
        Ok(self.connection(deadline).await?.info.clone())
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.opts
    }

    /// Why the bound identity was dropped on the last reconnect, if it was.
    pub fn lost_identity(&self) -> Option<WireError> {
        self.inner.lost.lock().unwrap().clone()
    }

    /// Run a typed call: its answer as the request's own result type.
    pub async fn run<T>(&self, call: Call<T>) -> Result<T, ClientError> {
        let (request, answer) = call.split();
        answer.read(self.call(request).await?)
    }

    /// Like [`Client::run`], and say whether busd answered because it is stopping.
    pub async fn run_waiting<T>(&self, call: Call<T>) -> Result<Waited<T>, ClientError> {
        let (request, answer) = call.split();
        let waited = self.call_waiting(request).await?;
        Ok(Waited {
            response: answer.read(waited.response)?,
            stopping: waited.stopping,
        })
    }

    /// Like [`Client::run`], asking busd to stop the call when `cancel` fires (see
    /// [`Client::call_cancellable`]).
    pub async fn run_cancellable<T>(
        &self,
        call: Call<T>,
        cancel: &CancellationToken,
    ) -> Result<T, ClientError> {
        let (request, answer) = call.split();
        answer.read(self.call_cancellable(request, cancel).await?)
    }

    /// Send a request and wait for its answer, across reconnects. The raw form, for tests of
    /// the protocol itself; clients run a typed [`Call`].
    pub async fn call(&self, request: Request) -> Result<Response, ClientError> {
        Ok(self.call_until(request, None).await?.response)
    }

    /// Like [`Client::call`], and say whether busd answered because it is stopping (for a
    /// waiting `Inbox` or `Tail`, whose wait that cut short).
    pub async fn call_waiting(&self, request: Request) -> Result<Waited, ClientError> {
        self.call_until(request, None).await
    }

    /// Like [`Client::call`], but when `cancel` fires the daemon is asked to stop the request.
    /// A request that already took effect still returns its result, so nothing is lost: an
    /// effectful one whose connection breaks after the cancel is resent (and cancelled again)
    /// until busd says what became of it.
    pub async fn call_cancellable(
        &self,
        request: Request,
        cancel: &CancellationToken,
    ) -> Result<Response, ClientError> {
        Ok(self.call_until(request, Some(cancel)).await?.response)
    }

    async fn call_until(
        &self,
        request: Request,
        cancel: Option<&CancellationToken>,
    ) -> Result<Waited, ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = frame::encode(&Envelope {
            id,
            body: request.clone(),
        })
        .map_err(|e| refused(ErrorKind::Internal, e.to_string()))?;
        if frame.len() > MAX_REQUEST_FRAME {
            // Say which limit of the request's own is broken, if one is, rather than the frame's.
            let error = request.oversize().unwrap_or_else(|| {
                WireError::new(
                    ErrorKind::TooLarge,
                    format!(
                        "request is {} bytes, over the limit of {MAX_REQUEST_FRAME}: send less at once",
                        frame.len()
                    ),
                )
            });
            return Err(ClientError::Refused(error));
        }
        // Each loss of the connection opens a fresh window to get a daemon back; a request that
        // keeps killing its connection is given up after a few resends.
        let mut retry_until: Option<Instant> = None;
        let mut losses = 0;
        let mut cancel_sent = false;
        let answer_within = self.inner.opts.answer_within + waits_for(&request);
        loop {
            let deadline =
                *retry_until.get_or_insert_with(|| Instant::now() + self.inner.opts.reconnect_for);
            let conn = self.connection(deadline).await?;
            let reply = conn.expect(id, tokio::time::Instant::now() + answer_within);
            if conn.send(frame.clone()).await.is_err() {
                continue;
            }
            if cancel_sent {
                // Resent only to learn its outcome: stop it again at once.
                self.send_cancel(&conn, id).await;
            }
            let mut reply = std::pin::pin!(reply);
            let answer = match cancel {
                Some(ct) if !cancel_sent => tokio::select! {
                    answer = &mut reply => answer,
                    () = ct.cancelled() => {
                        cancel_sent = true;
                        self.send_cancel(&conn, id).await;
                        reply.await
                    }
                },
                _ => reply.await,
            };
            let answer = match answer {
                Ok(Outcome::Late) => return Err(no_answer(&conn, answer_within)),
                Ok(Outcome::Reply(answer)) => Ok(answer),
                Err(closed) => Err(closed),
            };
            match answer {
                Ok(Err(e)) if e.kind == ErrorKind::Restarting && !cancel_sent => {
                    // Nothing was applied: ask the busd that takes over, once this one is gone.
                    tracing::info!(id, "busd is restarting; asking the next one");
                    let _ = tokio::time::timeout_at(deadline.into(), conn.ended()).await;
                    if !self.inner.opts.autostart {
                        return Err(ClientError::Refused(e));
                    }
                    retry_until = None;
                }
                Ok(answer) => {
                    // busd says so when it cut a wait short because it is stopping.
                    let (answer, stopping) = match answer {
                        Ok(Response::Stopped(answer)) => (Ok(*answer), true),
                        answer => (answer, false),
                    };
                    self.remember_identity(&request, &answer);
                    return answer
                        .map_err(ClientError::Refused)
                        .map(|response| Waited { response, stopping });
                }
                Err(_closed) => {
                    conn.forget(id);
                    // busd said it stops for good and closed before it read this call: say so
                    // rather than start another busd behind the back of whoever stopped it.
                    if conn.closing() == Some(Closing::Stopping) {
                        return Err(refused(
                            ErrorKind::ShuttingDown,
                            "busd stopped before it answered: start it again (any `bus` command does), then retry",
                        ));
                    }
                    // A cancelled read changed nothing. A cancelled effectful call may have
                    // taken effect before the connection went (a consume whose messages are
                    // now marked read): it is resent with its id, so busd answers with its
                    // recorded outcome, or stops it again if it never ran.
                    if cancel_sent && !request.is_effectful() {
                        return Err(refused(
                            ErrorKind::Cancelled,
                            "cancelled while the connection to busd was lost",
                        ));
                    }
                    losses += 1;
                    if losses > MAX_LOSSES {
                        return Err(ClientError::Unavailable(format!(
                            "busd closed the connection {losses} times during this call: see its log"
                        )));
                    }
                    tracing::info!(id, "connection to busd lost during a call; resending");
                    retry_until = None;
                }
            }
        }
    }

    async fn send_cancel(&self, conn: &Conn, target: u64) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(frame) = frame::encode(&Envelope {
            id,
            body: Request::Cancel { id: target },
        }) {
            let _ = conn.send(frame).await;
        }
    }

    fn remember_identity(&self, request: &Request, answer: &Result<Response, WireError>) {
        if let (Request::Attach { host, .. }, Ok(_)) = (request, answer) {
            *self.inner.host.lock().unwrap() = Some(host.clone());
            return;
        }
        let rebind = match (request, answer) {
            (Request::Register { .. }, Ok(Response::Registered(r))) => Request::Register {
                name: r.name.clone(),
                role: Some(r.role.clone()),
                owns: Some(r.owns.clone()),
            },
            (Request::ActAs { name }, Ok(_)) => Request::ActAs { name: name.clone() },
            _ => return,
        };
        *self.inner.rebind.lock().unwrap() = Some(rebind);
        *self.inner.lost.lock().unwrap() = None;
    }

    /// The live connection, opening a new one (and binding the identity again) if needed.
    async fn connection(&self, deadline: Instant) -> Result<Arc<Conn>, ClientError> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| c.is_alive()) {
            return Ok(conn.clone());
        }
        *slot = None;
        let conn = Arc::new(self.open(deadline).await?);
        self.bind_again(&conn).await;
        self.watch_closing(&conn).await;
        if self.inner.opts.stay_connected {
            self.keep_connected(&conn);
        }
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Ask busd to say how it goes away before it cuts any wait on this connection short.
    async fn watch_closing(&self, conn: &Conn) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(frame) = frame::encode(&Envelope {
            id,
            body: Request::WatchClosing,
        }) {
            let _ = conn.send(frame).await;
        }
    }

    /// When `conn` ends, connect again at once and bind the identity again, unless busd said
    /// it is stopping for good or there is no identity to keep (then the next call connects).
    fn keep_connected(&self, conn: &Arc<Conn>) {
        let client = Arc::downgrade(&self.inner);
        let conn = Arc::downgrade(conn);
        let Some(ended) = conn.upgrade().map(|c| c.ended()) else {
            return;
        };
        tokio::spawn(async move {
            ended.await;
            let stopping = conn
                .upgrade()
                .is_some_and(|c| c.closing() == Some(Closing::Stopping));
            let Some(inner) = client.upgrade() else {
                return;
            };
            if stopping || inner.rebind.lock().unwrap().is_none() {
                return;
            }
            tracing::info!("the connection to busd ended; connecting again");
            let client = Client { inner };
            let deadline = Instant::now() + client.inner.opts.reconnect_for;
            if let Err(e) = client.connection(deadline).await {
                tracing::warn!(error = %e, "could not connect to busd again; the next call retries");
            }
        });
    }

    async fn open(&self, deadline: Instant) -> Result<Conn, ClientError> {
        let opts = &self.inner.opts;
        let hello = Hello {
            protocol: opts.protocol,
            kind: opts.kind,
            client_id: self.inner.client_id.clone(),
            session_id: opts.session_id.clone(),
            pid: std::process::id(),
            retire_older: opts.autostart,
        };
        let mut backoff = Duration::from_millis(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let err = match Conn::open(&opts.paths.socket, &hello).await {
                Ok(conn) => return Ok(conn),
                Err(e) => e,
            };
            match err {
                OpenError::Refused(e) => return Err(ClientError::Refused(e)),
                OpenError::Untrusted(why) => return Err(ClientError::Unavailable(why)),
                OpenError::NoHandshake(within) => {
                    // A busd that accepts but does not answer is not coming up: it is stopped
                    // or stuck. Name it by the pid in its lock file.
                    let pid = std::fs::read_to_string(&opts.paths.daemon_lock)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    return Err(ClientError::NoAnswer(match pid {
                        Some(pid) => format!(
                            "busd (pid {pid}) has not answered for {}s: if it was stopped, `kill -CONT {pid}`; if it is stuck, `kill {pid}` and retry (a new busd starts by itself)",
                            within.as_secs()
                        ),
                        None => format!(
                            "something listens on {} but did not answer within {}s: stop it, or remove the socket file, and retry",
                            opts.paths.socket.display(),
                            within.as_secs()
                        ),
                    }));
                }
                OpenError::Retiring { mut gone, pid, .. } => {
                    tracing::info!(pid, "an older busd is retiring; waiting for it to exit");
                    let mut buf = [0u8; 64];
                    let _ = tokio::time::timeout(left, async {
                        while matches!(gone.read(&mut buf).await, Ok(n) if n > 0) {}
                    })
                    .await;
                }
                OpenError::NoDaemon { .. } if opts.autostart && !left.is_zero() => {
                    let socket = opts.paths.socket.clone();
                    let probe = || {
                        let socket = socket.clone();
                        let hello = hello.clone();
                        async move { Conn::open(&socket, &hello).await.is_ok() }
                    };
                    match start::ensure_daemon(&opts.paths, opts.busd.as_deref(), left, probe).await
                    {
                        Ok(_) => {}
                        // Killed before it served (not refused): start another while time is left.
                        Err(e @ StartError::Killed(_)) => {
                            tracing::info!(error = %e, "starting busd again");
                        }
                        Err(e) => return Err(ClientError::Unavailable(e.to_string())),
                    }
                }
                other => {
                    if left.is_zero() || !opts.autostart {
                        return Err(ClientError::Unavailable(other.to_string()));
                    }
                    // A daemon is coming up or going down: back off, then try again.
                    tracing::debug!(error = %other, ?backoff, "busd not ready");
                    tokio::time::sleep(backoff.min(left)).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    async fn bind_again(&self, conn: &Conn) {
        let rebind = self.inner.rebind.lock().unwrap().clone();
        let host = self.inner.host.lock().unwrap().clone();
        if let Some(host) = host {
            let naming = matches!(rebind, Some(Request::Register { .. }));
            self.send_again(conn, Request::Attach { host, naming })
                .await;
        }
        if let Some(request) = rebind {
            self.send_again(conn, request).await;
        }
    }

    /// Send what a new connection must know before any call: the host, then the identity.
    async fn send_again(&self, conn: &Conn, request: Request) {
        let rebinds = !matches!(request, Request::Attach { .. });
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let Ok(frame) = frame::encode(&Envelope {
            id,
            body: request.clone(),
        }) else {
            return;
        };
        let reply = conn.expect(
            id,
            tokio::time::Instant::now() + self.inner.opts.answer_within,
        );
        if conn.send(frame).await.is_err() {
            return;
        }
        match reply.await {
            Ok(Outcome::Late) => tracing::warn!(
                request = request.name(),
                "busd did not answer on the new connection"
            ),
            Ok(Outcome::Reply(Ok(_))) if rebinds => {
                tracing::info!("reconnected to busd and bound the identity again")
            }
            Ok(Outcome::Reply(Ok(_))) => {
                tracing::info!("told busd again which process this serves")
            }
            Ok(Outcome::Reply(Err(e))) if rebinds => {
                tracing::warn!(error = %e, "reconnected to busd but could not bind the identity again");
                *self.inner.rebind.lock().unwrap() = None;
                *self.inner.lost.lock().unwrap() = Some(e);
            }
            Ok(Outcome::Reply(Err(e))) => {
                tracing::warn!(error = %e, "could not tell busd again which process this serves");
            }
            Err(_closed) => {}
        }
    }
}

/// How long a request asks busd to wait before it answers.
fn waits_for(request: &Request) -> Duration {
    Duration::try_from_secs_f64(request.wait()).unwrap_or(Duration::ZERO)
}

/// The error for a call busd took but did not answer in time.
fn no_answer(conn: &Conn, within: Duration) -> ClientError {
    let pid = conn.info.pid;
    ClientError::NoAnswer(format!(
        "busd (pid {pid}) has not answered for {}s: if it was stopped, `kill -CONT {pid}`; if it is stuck, `kill {pid}` and retry (a new busd starts by itself)",
        within.as_secs()
    ))
}

fn refused(kind: ErrorKind, message: impl Into<String>) -> ClientError {
    ClientError::Refused(WireError::new(kind, message))
}

/// 128 random bits as hex, from the OS's randomness via std's hasher seeds.
fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(32);
    for salt in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}
