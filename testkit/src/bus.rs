//! [`TempBus`]: a bus in a fresh temp folder, its files named by [`BusPaths`], with or without
//! its busd. Dropping it stops every busd of the bus (ours, or one a client started) and waits
//! for it to exit, so no busd outlives its folder.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::Duration;

use proto::ClientKind;
use proto::client::{Client, ClientOptions, StartError, call, spawn_daemon};
use proto::paths::BusPaths;

use crate::{PATIENCE, bin, procs};

/// A throwaway bus. `daemon` is the busd this fixture started, if any.
pub struct TempBus {
    pub dir: tempfile::TempDir,
    pub paths: BusPaths,
    pub daemon: Option<Child>,
    busd: PathBuf,
}

impl TempBus {
    /// A bus folder without a daemon (clients may start one), for the busd built beside the
    /// test.
    pub fn empty() -> TempBus {
        TempBus::new("bus-test-", bin("busd")).expect("a temp folder for the bus")
    }

    /// A bus folder named `prefix…` for the busd at `busd` (the benchmark's release build),
    /// without a daemon.
    pub fn new(prefix: &str, busd: PathBuf) -> std::io::Result<TempBus> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        Ok(TempBus {
            paths: BusPaths::in_folder(dir.path()),
            dir,
            daemon: None,
            busd,
        })
    }

    /// A bus whose database is `db`, in a folder the test prepared inside `dir` (a mount, a
    /// symlink), without a daemon.
    pub fn at(dir: tempfile::TempDir, db: PathBuf) -> TempBus {
        TempBus {
            paths: BusPaths::new(db, None),
            dir,
            daemon: None,
            busd: bin("busd"),
        }
    }

    /// One machine's view of a bus shared on the PostgreSQL database `url`: its own socket
    /// folder (its busd, lock and log), the store shared; without a daemon.
    pub fn shared(url: &str) -> TempBus {
        TempBus::shared_for(url, bin("busd")).expect("a temp folder for the bus")
    }

    /// Like [`TempBus::shared`], for the busd at `busd` (the benchmark's release build).
    pub fn shared_for(url: &str, busd: PathBuf) -> std::io::Result<TempBus> {
        let dir = tempfile::Builder::new().prefix("bus-shared-").tempdir()?;
        Ok(TempBus {
            paths: BusPaths::new(url.into(), Some(dir.path().join("busd.sock"))),
            dir,
            daemon: None,
            busd,
        })
    }

    /// A new bus with busd serving it.
    pub async fn start() -> TempBus {
        TempBus::start_with(&[]).await
    }

    /// A new bus with busd serving it, started with extra arguments.
    pub async fn start_with(args: &[&str]) -> TempBus {
        let mut bus = TempBus::empty();
        bus.spawn(args).await;
        bus
    }

    /// Start (or restart) busd on this bus and wait until it serves.
    pub async fn spawn(&mut self, args: &[&str]) {
        self.try_spawn(args).await.expect("busd starts");
    }

    /// Like [`TempBus::spawn`], saying why busd did not start.
    pub async fn try_spawn(&mut self, args: &[&str]) -> Result<(), StartError> {
        let child = spawn_daemon(&self.paths, &self.busd, args, false, PATIENCE).await?;
        self.daemon = Some(child);
        Ok(())
    }

    /// The busd executable this bus runs.
    pub fn busd(&self) -> &Path {
        &self.busd
    }

    pub fn db(&self) -> &Path {
        &self.paths.db
    }

    /// The pid of the busd the fixture started.
    pub fn pid(&self) -> u32 {
        self.daemon
            .as_ref()
            .expect("a busd started by the fixture")
            .id()
    }

    /// busd's pid: the fixture's, or the one a client started (from its lock file).
    pub fn busd_pid(&self) -> Option<u32> {
        if let Some(child) = &self.daemon {
            return Some(child.id());
        }
        std::fs::read_to_string(&self.paths.daemon_lock)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Every busd process serving this bus, found through `/proc`.
    pub fn busd_processes(&self) -> Vec<u32> {
        procs::busd_pids(&self.paths)
    }

    /// SIGTERM the fixture's busd and wait for it to exit; returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.daemon.take().expect("a busd started by the fixture");
        procs::signal(child.id(), libc::SIGTERM);
        child.wait().expect("busd exits")
    }

    /// Kill the fixture's busd as a crash would (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        let mut child = self.daemon.take().expect("a busd started by the fixture");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Whether a daemon holds this bus's daemon lock.
    pub fn daemon_running(&self) -> bool {
        match std::fs::OpenOptions::new()
            .write(true)
            .open(&self.paths.daemon_lock)
        {
            Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// busd's log so far (a busd a client started writes one).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.paths.log).unwrap_or_default()
    }

    /// Options for a client of this bus that never starts a daemon itself.
    pub fn options(&self, kind: ClientKind) -> ClientOptions {
        ClientOptions {
            autostart: false,
            busd: Some(self.busd.clone()),
            reconnect_for: Duration::from_secs(10),
            ..ClientOptions::new(self.paths.clone(), kind)
        }
    }

    /// Options for a client that starts busd when none answers, as shims do.
    pub fn autostart_options(&self) -> ClientOptions {
        ClientOptions {
            autostart: true,
            ..self.options(ClientKind::Other)
        }
    }

    /// A protocol client for this bus (never starts busd); it connects at its first call.
    pub fn client(&self) -> Client {
        Client::new(self.options(ClientKind::Other))
    }

    /// A protocol client, connected now.
    pub async fn connected(&self) -> Client {
        let client = self.client();
        client.connect().await.expect("client connects");
        client
    }

    /// A connected protocol client registered as `name`.
    pub async fn registered(&self, name: &str) -> Client {
        let client = self.connected().await;
        client
            .run(call::register(name.into(), None, None))
            .await
            .unwrap_or_else(|e| panic!("registering {name}: {e}"));
        client
    }

    /// Give `cmd` this bus's environment: its `BUS_DB` (and `BUS_SOCKET` when it is not the
    /// default), this bus's busd for autostart, and nothing else of the caller's bus (no
    /// `BUS_NAME`, `BUS_URL`, session id or Claude Code of the test's own environment).
    pub fn env(&self, cmd: &mut tokio::process::Command) {
        cmd.env("BUS_DB", &self.paths.db)
            .env("BUS_DAEMON", &self.busd)
            .env_remove("BUS_SOCKET")
            .env_remove("BUS_NAME")
            .env_remove("BUS_LOG")
            .env_remove("BUS_URL")
            .env_remove("BUS_TOKEN")
            .env_remove("BUS_CA")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .env_remove("CLAUDE_PID")
            .env_remove("CLAUDECODE");
        if self.paths.socket != BusPaths::new(self.paths.db.clone(), None).socket {
            cmd.env("BUS_SOCKET", &self.paths.socket);
        }
    }
}

impl Drop for TempBus {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            procs::stop(child.id());
            let _ = child.wait();
        }
        // A busd that a client (a shim, a `bus` command, a hook) started: not our child.
        let mut others = self.busd_processes();
        others.extend(self.busd_pid().filter(|_| self.daemon_running()));
        others.sort_unstable();
        others.dedup();
        if others.is_empty() {
            return;
        }
        for pid in others {
            procs::stop(pid);
        }
        self.wait_for_daemon_exit();
    }
}

impl TempBus {
    /// Wait (within [`PATIENCE`]) for the daemon lock to be free: busd has exited.
    fn wait_for_daemon_exit(&self) {
        let Ok(file) = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.paths.daemon_lock)
        else {
            return;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = file.lock();
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(PATIENCE);
    }
}
