//! The accept loop and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::tokio::prelude::*;
use tokio_util::task::TaskTracker;

use crate::hub::Hub;
use crate::shared::{Config, Shared};
use crate::store::{self, Db};

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
        let mut backend = store::open(&config.paths, &config.host)?;
        let hub = Arc::new(Hub::new());
        backend.watch_others(Box::new(hub.clone()));
        let (db, db_thread) =
            Db::spawn(backend, hub.clone()).context("starting the database thread")?;
        let shared = Arc::new(Shared::new(config, db, hub));
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
            db = %shared.config.paths.db_shown(),
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
