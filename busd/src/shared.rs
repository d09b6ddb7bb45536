//! What every connection shares: the daemon's configuration, its database handle, wake-ups,
//! presence, the shutdown signals and the limits drawn on by every connection.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use proto::Closing;
use proto::paths::BusPaths;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::intake::{BUFFERED_MAX, Budget};
use crate::presence::{ConnId, Presence};
use crate::store::Db;

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
    /// The name this machine goes by: `agents` shows it beside the sessions connected here.
    pub host: String,
}

impl Config {
    pub fn new(paths: BusPaths) -> Config {
        Config {
            paths,
            log_path: None,
            protocol: proto::PROTOCOL_VERSION,
            remove_socket: true,
            drain_timeout: Duration::from_secs(5),
            host: proto::host::machine_name(),
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
    pub fn new(config: Config, db: Db, hub: Arc<Hub>) -> Shared {
        Shared {
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
        }
    }

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
