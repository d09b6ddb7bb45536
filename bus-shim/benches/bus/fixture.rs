//! The binaries under test (built in release, as users get them) and a temp bus with its busd.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use anyhow::{Context, bail};
use proto::client::{Client, ClientOptions, spawn_daemon};
use proto::paths::BusPaths;
use proto::{ClientKind, Request, Response, Status};

use crate::procs;

/// Paths of the release binaries.
#[derive(Debug, Clone)]
pub struct Bins {
    pub shim: PathBuf,
    pub busd: PathBuf,
    /// `bus`, when it is built and has `bus hook stop`.
    pub bus_hook: Option<PathBuf>,
}

impl Bins {
    /// Build every binary of the workspace in release exactly as `cargo build --release` does
    /// (cargo bench builds bus-shim with its dev-dependencies' features; this replaces it with
    /// the binary users run), then find them. `build: false` takes them as they are.
    pub fn build(build: bool) -> anyhow::Result<Bins> {
        let shim = PathBuf::from(env!("CARGO_BIN_EXE_bus-shim"));
        let root = crate::opts::workspace();
        if build {
            eprintln!(
                "building the release binaries (cargo build --release --bins, the members)..."
            );
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "--release", "--bins", "--quiet"])
                .current_dir(&root)
                .status()
                .context("running cargo build")?;
            if !status.success() {
                bail!("cargo build --release failed: fix the build, then run the benchmark again");
            }
        }
        let busd = shim.with_file_name("busd");
        if !busd.exists() {
            bail!("{} is missing after the build", busd.display());
        }
        let bus = shim.with_file_name("bus");
        let bus_hook = has_hook_stop(&bus).then_some(bus);
        Ok(Bins {
            shim,
            busd,
            bus_hook,
        })
    }
}

/// Whether `bus` exists and knows `bus hook stop` (its help names the command).
fn has_hook_stop(bus: &Path) -> bool {
    bus.exists()
        && std::process::Command::new(bus)
            .args(["hook", "stop", "--help"])
            .stderr(std::process::Stdio::null())
            .output()
            .is_ok_and(|out| {
                out.status.success() && String::from_utf8_lossy(&out.stdout).contains("hook stop")
            })
}

/// A bus in a fresh temp folder, with or without its busd. Dropping it stops busd.
pub struct TempBus {
    pub dir: tempfile::TempDir,
    pub paths: BusPaths,
    busd: PathBuf,
    daemon: Option<Child>,
}

impl TempBus {
    /// A folder for a bus; no daemon yet.
    pub fn new(busd: &Path) -> anyhow::Result<TempBus> {
        let dir = tempfile::Builder::new()
            .prefix("bus-bench-")
            .tempdir()
            .context("creating a temp folder")?;
        let paths = BusPaths::new(dir.path().join("bus.db"), None);
        Ok(TempBus {
            dir,
            paths,
            busd: busd.to_owned(),
            daemon: None,
        })
    }

    /// A bus with its busd serving.
    pub async fn started(busd: &Path) -> anyhow::Result<TempBus> {
        let mut bus = TempBus::new(busd)?;
        bus.start().await?;
        Ok(bus)
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        let child = spawn_daemon(&self.paths, &self.busd, &[], false, Duration::from_secs(30))
            .await
            .context("starting busd")?;
        self.daemon = Some(child);
        Ok(())
    }

    /// SIGTERM busd and wait for it to exit (it checkpoints the database first).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            procs::signal(child.id(), libc::SIGTERM);
            let _ = child.wait();
        }
    }

    /// busd's pid: ours, or the one a client started (from its lock file).
    pub fn busd_pid(&self) -> Option<u32> {
        if let Some(child) = &self.daemon {
            return Some(child.id());
        }
        std::fs::read_to_string(&self.paths.daemon_lock)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    pub fn db(&self) -> &Path {
        &self.paths.db
    }

    /// A protocol-level client that never starts a daemon.
    pub fn client(&self) -> Client {
        Client::new(ClientOptions {
            autostart: false,
            busd: Some(self.busd.clone()),
            reconnect_for: Duration::from_secs(10),
            ..ClientOptions::new(self.paths.clone(), ClientKind::Other)
        })
    }

    /// A protocol-level client registered as `name`.
    pub async fn session(&self, name: &str) -> anyhow::Result<Client> {
        let client = self.client();
        client
            .call(Request::Register {
                name: name.into(),
                role: None,
                owns: None,
            })
            .await
            .with_context(|| format!("registering {name}"))?;
        Ok(client)
    }
}

impl Drop for TempBus {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            self.stop();
        } else if let Some(pid) = self.busd_pid() {
            // A busd that a client started (not our child).
            procs::signal(pid, libc::SIGTERM);
        }
    }
}

/// busd's status, through `client`.
pub async fn status(client: &Client) -> anyhow::Result<Status> {
    match client.call(Request::Status).await? {
        Response::Status(s) => Ok(s),
        other => bail!("status answered {other:?}"),
    }
}
