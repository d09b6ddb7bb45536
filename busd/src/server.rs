//! The accept loop, the state every connection shares, and graceful shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::tokio::prelude::*;
use proto::Closing;
use proto::paths::BusPaths;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::Hub;
use crate::intake::{BUFFERED_MAX, Budget};
use crate::presence::{ConnId, Presence};
use crate::store::Db;
use crate::store::sqlite::SqliteBackend;

/// Connections served at once; past that a connection is refused with a clear handshake error.
/// (A session holds two descriptors, so this stays within the usual limit of 1024.)
pub(crate) const MAX_CONNECTIONS: usize = 500;

/// How busd runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub paths: BusPaths,
    /// Where busd's log goes, when it is a file (shown by `bus status`).
    pub log_path: Option<PathBuf>,
    /// The protocol announced in the handshake (always ours, but for version tests).
    pub protocol: u32,
    /// Remove the socket file on exit (not when a service manager owns the socket).
    pub remove_socket: bool,
    /// How long in-flight calls may take to finish at shutdown.
    pub drain_timeout: Duration,
}

impl Config {
    pub fn new(paths: BusPaths) -> Config {
        Config {
            paths,
            log_path: None,
            protocol: proto::PROTOCOL_VERSION,
            remove_socket: true,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// What every connection shares.
pub(crate) struct Shared {
    pub db: Db,
    pub hub: Arc<Hub>,
    pub presence: Presence,
    pub config: Config,
    pub started_at: f64,
    /// Shutdown has begun: stop reading requests, end waits with what there is.
    pub stopping: CancellationToken,
    /// A client asked the daemon to stop (`Shutdown`, `Restart`, or a newer client retiring us).
    pub stop_requested: CancellationToken,
    /// The shutdown is a restart: a new busd takes over (see [`Closing`]).
    restarting: AtomicBool,
    /// The bytes of request frames every connection draws from.
    pub budget: Budget,
    /// One permit per connection served.
    pub slots: Arc<Semaphore>,
    next_conn: AtomicU64,
}

impl Shared {
    /// Ask the daemon to shut down, for good or for a new busd to take over.
    pub fn stop(&self, how: Closing) {
        if how == Closing::Restarting {
            self.restarting.store(true, Ordering::SeqCst);
        }
        self.stop_requested.cancel();
    }

    /// How the daemon is going away (meaningful once `stopping` is cancelled).
    pub fn closing(&self) -> Closing {
        if self.restarting.load(Ordering::SeqCst) {
            Closing::Restarting
        } else {
            Closing::Stopping
        }
    }

    pub fn next_conn(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Serve `listener` until `shutdown` resolves or a client asks busd to stop; then stop
/// accepting, let in-flight calls finish (bounded by `drain_timeout`), wake waiting readers,
/// checkpoint the database and remove the socket file.
pub async fn run(
    listener: Listener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    Daemon::open(config)?.serve(listener, shutdown).await
}

/// A daemon whose database is open, ready to serve.
pub struct Daemon {
    shared: Arc<Shared>,
    db_thread: std::thread::JoinHandle<Result<(), crate::store::StoreError>>,
}

impl Daemon {
    /// Open (create or upgrade) the database and start its thread.
    pub fn open(config: Config) -> anyhow::Result<Daemon> {
        let backend = SqliteBackend::open(&config.paths.db)?;
        let hub = Arc::new(Hub::new());
        let (db, db_thread) =
            Db::spawn(backend, hub.clone()).context("starting the database thread")?;
        let shared = Arc::new(Shared {
            db,
            hub,
            presence: Presence::new(),
            started_at: proto::time::now(),
            stopping: CancellationToken::new(),
            stop_requested: CancellationToken::new(),
            restarting: AtomicBool::new(false),
            budget: Budget::new(BUFFERED_MAX),
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            next_conn: AtomicU64::new(0),
            config,
        });
        Ok(Daemon { shared, db_thread })
    }

    /// Serve until `shutdown` resolves or a client asks busd to stop, then shut down.
    pub async fn serve(
        self,
        listener: Listener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Daemon { shared, db_thread } = self;
        tracing::info!(
            pid = std::process::id(),
            version = proto::VERSION,
            protocol = shared.config.protocol,
            db = %shared.config.paths.db.display(),
            socket = %shared.config.paths.socket.display(),
            "busd serving"
        );

        let connections = TaskTracker::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(stream) => match shared.slots.clone().try_acquire_owned() {
                        Ok(slot) => {
                            connections.spawn(crate::conn::serve(stream, shared.clone(), slot));
                        }
                        Err(_) => {
                            connections.spawn(crate::conn::refuse(stream, shared.clone()));
                        }
                    },
                    Err(e) => {
                        // Out of descriptors and the like: say so and give the system a moment.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                () = &mut shutdown => break,
                () = shared.stop_requested.cancelled() => break,
            }
        }

        tracing::info!("shutting down: no new connections");
        drop(listener);
        shared.stopping.cancel();
        connections.close();
        if tokio::time::timeout(shared.config.drain_timeout, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some calls did not finish in time; stopping anyway");
        }
        shared.db.close().await;
        let remove_socket = shared.config.remove_socket;
        let socket = shared.config.paths.socket.clone();
        drop(shared);
        match tokio::task::spawn_blocking(move || db_thread.join()).await {
            Ok(Ok(Ok(()))) => tracing::info!("database checkpointed and closed"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "closing the database failed"),
            _ => tracing::warn!("the database thread ended abnormally"),
        }
        if remove_socket {
            let _ = std::fs::remove_file(&socket);
        }
        tracing::info!("busd stopped");
        Ok(())
    }
}
