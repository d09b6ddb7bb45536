//! The binaries under test (built in release, as users get them), and the workspace's temp bus
//! ([`testkit::TempBus`]) on them: one SQLite busd, or two busd sharing a PostgreSQL database
//! ([`Layout`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use proto::Status;
use proto::client::{Client, call};
pub use testkit::TempBus;
use testkit::postgres::Cluster;

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

/// A bus in a fresh temp folder for the busd at `busd`, no daemon yet. Dropping it stops busd.
pub fn temp_bus(busd: &Path) -> anyhow::Result<TempBus> {
    TempBus::new("bus-bench-", busd.to_owned()).context("creating a temp folder")
}

/// A bus with its busd serving.
pub async fn started(busd: &Path) -> anyhow::Result<TempBus> {
    let mut bus = temp_bus(busd)?;
    bus.try_spawn(&[]).await.context("starting busd")?;
    Ok(bus)
}

/// A protocol-level client registered as `name`.
pub async fn registered(bus: &TempBus, name: &str) -> anyhow::Result<Client> {
    let client = bus.client();
    client
        .run(call::register(name.into(), None, None))
        .await
        .with_context(|| format!("registering {name}"))?;
    Ok(client)
}

/// busd's status, through `client`.
pub async fn status(client: &Client) -> anyhow::Result<Status> {
    Ok(client.run(call::status()).await?)
}

/// How the bus under test is laid out.
#[derive(Clone, Copy)]
pub enum Layout<'a> {
    /// One busd on its SQLite file.
    Sqlite,
    /// Two busd ("machine-a", "machine-b": their own socket folders) on one fresh database of
    /// `cluster`.
    Shared(&'a Cluster),
}

impl Layout<'_> {
    /// How the table names it.
    pub fn label(&self) -> &'static str {
        match self {
            Layout::Sqlite => "SQLite, 1 busd",
            Layout::Shared(_) => "PostgreSQL, 2 busd",
        }
    }

    /// The database server's processes (none for SQLite: it runs inside busd).
    pub fn server_pids(&self) -> Vec<u32> {
        match self {
            Layout::Sqlite => Vec::new(),
            Layout::Shared(cluster) => cluster.server_pids(),
        }
    }

    /// A fresh bus of this layout, every busd serving.
    pub async fn start(&self, busd: &Path) -> anyhow::Result<Machines> {
        let buses = match self {
            Layout::Sqlite => vec![started(busd).await?],
            Layout::Shared(cluster) => {
                let url = cluster.database();
                let mut buses = Vec::new();
                for host in ["machine-a", "machine-b"] {
                    let mut bus = TempBus::shared_for(&url, busd.to_owned())
                        .context("creating a temp folder")?;
                    bus.try_spawn(&["--host", host])
                        .await
                        .with_context(|| format!("starting busd --host {host}"))?;
                    buses.push(bus);
                }
                buses
            }
        };
        Ok(Machines { buses })
    }
}

/// The busd of one bus: one, or one per machine.
pub struct Machines {
    buses: Vec<TempBus>,
}

impl Machines {
    /// The `i`th client's machine: clients are dealt round the machines.
    pub fn of(&self, i: usize) -> &TempBus {
        &self.buses[i % self.buses.len()]
    }

    /// Every busd's pid.
    pub fn busd_pids(&self) -> Vec<u32> {
        self.buses.iter().filter_map(TempBus::busd_pid).collect()
    }
}
