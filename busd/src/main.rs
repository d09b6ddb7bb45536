//! busd: take the daemon lock, bind (or inherit) the socket, open the database, serve.

use std::io::Write as _;
use std::os::fd::FromRawFd;
use std::path::PathBuf;

use anyhow::Context;
use busd::{Config, Daemon, listener};
use clap::Parser;
use proto::paths::BusPaths;

/// The claude-bus daemon. Clients start it when none runs; it serves until SIGTERM, SIGINT or
/// `bus stop`. Paths come from BUS_DB and BUS_SOCKET; log verbosity from BUS_LOG.
#[derive(Parser)]
#[command(name = "busd", version)]
struct Args {
    /// Write one byte to this inherited descriptor once serving (used by clients that start
    /// busd, to wait for it without polling).
    #[arg(long, value_name = "FD")]
    ready_fd: Option<i32>,
    /// Announce this protocol version instead of ours (tests of version handling).
    #[arg(long, hide = true)]
    announce_protocol: Option<u32>,
    /// The name this machine goes by on a shared bus: `agents` shows it beside the sessions
    /// connected to this busd [default: BUS_HOST, else the host name]
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Copy the bus of BUS_DB (a SQLite file) into an empty PostgreSQL database; then set
    /// BUS_DB to the URL on every machine to continue the same bus.
    Migrate {
        /// The database to copy into: postgres://USER@HOST:PORT/DBNAME
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_logging();
    let result = match args.command {
        Some(Command::Migrate { ref to }) => migrate(to),
        None => serve(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, the last busd writes: a client that started busd reports it as is.
            eprintln!("busd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn migrate(to: &str) -> anyhow::Result<()> {
    let paths = BusPaths::from_env().context("finding the bus paths")?;
    if paths.is_shared() {
        anyhow::bail!("BUS_DB is a PostgreSQL URL already: set it to the SQLite file to copy");
    }
    if !proto::paths::is_shared(std::path::Path::new(to)) {
        anyhow::bail!("--to must be a postgres:// URL, got {to:?}");
    }
    let copied = busd::store::postgres::migrate(&paths.db, to, proto::time::now())?;
    println!(
        "copied {} agents, {} messages, {} receipts, {} state keys, {} live claims, {} tokens from {} into {}",
        copied.agents,
        copied.messages,
        copied.receipts,
        copied.state,
        copied.claims,
        copied.tokens,
        paths.db.display(),
        proto::paths::redact_url(to)
    );
    println!(
        "now set BUS_DB={} on every machine",
        proto::paths::redact_url(to)
    );
    Ok(())
}

fn serve(args: Args) -> anyhow::Result<()> {
    raise_fd_limit();
    let mut paths = BusPaths::from_env().context("finding the bus paths")?;
    // Before any thread starts: reading the inherited socket edits the environment.
    let inherited = match listener::from_systemd()? {
        Some(fd) => Some(fd),
        None => listener::from_launchd()?,
    };
    // A service manager's socket is where clients look: lock and report that one.
    if let Some(path) = inherited.as_ref().and_then(listener::bound_path)
        && std::env::var_os("BUS_SOCKET").is_none()
    {
        paths = BusPaths::new(paths.db, Some(path));
    }
    listener::prepare_dirs(&paths)?;
    let lock = listener::DaemonLock::acquire(&paths)?;

    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let under_manager = inherited.is_some();
        let socket = match inherited {
            Some(fd) => listener::inherited(fd)?,
            None => listener::bind(&paths.socket, &lock)?,
        };
        let socket_path = paths.socket.clone();
        let mut config = Config::new(paths);
        config.remove_socket = !under_manager;
        config.log_path = std::env::var_os("BUS_LOG_FILE").map(PathBuf::from);
        if let Some(p) = args.announce_protocol {
            config.protocol = p;
        }
        if let Some(host) = args.host.filter(|h| !h.trim().is_empty()) {
            config.host = host.trim().to_owned();
        }
        let daemon = match Daemon::open(config) {
            Ok(daemon) => daemon,
            Err(e) => {
                // Leave no socket that nobody will ever answer on.
                if !under_manager {
                    let _ = std::fs::remove_file(&socket_path);
                }
                return Err(e);
            }
        };
        // Listen for signals before announcing readiness: a SIGTERM sent as soon as busd is
        // ready must stop it cleanly, not kill it.
        let shutdown = shutdown_signal();
        if let Some(fd) = args.ready_fd {
            // SAFETY: the client that started busd passed this pipe's write end as `fd`.
            let mut ready = unsafe { std::fs::File::from_raw_fd(fd) };
            let _ = ready.write_all(b"1");
        }
        daemon.serve(socket, shutdown).await
    })?;
    drop(lock);
    Ok(())
}

/// Lift the soft limit on open descriptors to the hard limit: each client is one socket, and
/// the usual soft limit (1024) is below what a busd serving many sessions needs.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on local structs.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= limit.rlim_max
        {
            return;
        }
        let wanted = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            tracing::warn!(
                soft = limit.rlim_cur,
                "cannot raise the open-descriptor limit"
            );
        }
    }
}

/// Listen for SIGTERM and SIGINT from now on; the future resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = signal(SignalKind::terminate())
        .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)));
    async move {
        let Ok((mut term, mut int)) = signals else {
            tracing::error!("cannot listen for signals; stop busd with `bus stop`");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}
