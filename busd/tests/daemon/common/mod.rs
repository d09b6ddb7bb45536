//! The fixture: a real busd on a temp bus, stopped on drop, and clients for it.

#![allow(dead_code)]

mod legacy;
mod raw;
mod relay;

pub use legacy::*;
pub use raw::*;
pub use relay::*;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use proto::client::{Client, ClientOptions, StartError, spawn_daemon};
use proto::paths::BusPaths;
use proto::{ClientKind, Request, Response, WireError};

/// The busd binary under test.
pub fn busd_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_busd"))
}

/// A busd serving a bus in a fresh temp folder. Dropping it stops busd (SIGTERM, then kill).
pub struct TestBus {
    pub dir: tempfile::TempDir,
    pub paths: BusPaths,
    pub daemon: Option<Child>,
}

impl TestBus {
    /// Start busd on a new temp bus and wait until it serves.
    pub async fn start() -> TestBus {
        Self::start_with(&[]).await
    }

    /// Start busd with extra arguments.
    pub async fn start_with(args: &[&str]) -> TestBus {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = BusPaths::new(dir.path().join("bus.db"), None);
        let mut bus = TestBus {
            dir,
            paths,
            daemon: None,
        };
        bus.spawn(args).await;
        bus
    }

    /// A bus folder without a daemon (clients may start one).
    pub fn empty() -> TestBus {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = BusPaths::new(dir.path().join("bus.db"), None);
        TestBus {
            dir,
            paths,
            daemon: None,
        }
    }

    /// A bus whose database is `db`, in a folder the test prepared inside `dir` (a mount, a
    /// symlink), without a daemon.
    pub fn at(dir: tempfile::TempDir, db: PathBuf) -> TestBus {
        TestBus {
            paths: BusPaths::new(db, None),
            dir,
            daemon: None,
        }
    }

    /// Start (or restart) the daemon on this bus.
    pub async fn spawn(&mut self, args: &[&str]) {
        let child = spawn_daemon(
            &self.paths,
            &busd_exe(),
            args,
            false,
            Duration::from_secs(30),
        )
        .await
        .expect("busd starts");
        self.daemon = Some(child);
    }

    /// busd's pid.
    pub fn pid(&self) -> u32 {
        self.daemon.as_ref().expect("a running busd").id()
    }

    /// Send SIGTERM and wait for busd to exit; returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.daemon.take().expect("a running busd");
        signal(child.id(), libc::SIGTERM);
        child.wait().expect("busd exits")
    }

    /// `kill -9` busd and reap it.
    pub fn kill(&mut self) {
        let mut child = self.daemon.take().expect("a running busd");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Options for a client of this bus that never starts a daemon itself.
    pub fn options(&self, kind: ClientKind) -> ClientOptions {
        ClientOptions {
            autostart: false,
            busd: Some(busd_exe()),
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

    /// A connected client.
    pub async fn client(&self) -> Client {
        let client = Client::new(self.options(ClientKind::Other));
        client.connect().await.expect("client connects");
        client
    }

    /// A client registered as `name`.
    pub async fn session(&self, name: &str) -> Client {
        let client = self.client().await;
        register(&client, name).await.expect("register");
        client
    }

    /// busd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.paths.log).unwrap_or_default()
    }

    pub fn db(&self) -> &Path {
        &self.paths.db
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            signal(child.id(), libc::SIGTERM);
            let _ = child.wait();
        }
        // A busd that a client started (detached) is not our child: stop it by its pid.
        for pid in busd_pids(&self.paths) {
            signal(pid, libc::SIGTERM);
        }
    }
}

/// The pids of every busd process serving this bus (found through /proc, by its BUS_DB).
pub fn busd_pids(paths: &BusPaths) -> Vec<u32> {
    let wanted = format!("BUS_DB={}", paths.db.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            exe.file_name().is_some_and(|n| n == "busd")
                && env.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes())
        })
        .collect()
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a process we started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

pub async fn register(client: &Client, name: &str) -> Result<Response, WireError> {
    call(
        client,
        Request::Register {
            name: name.into(),
            role: None,
            owns: None,
        },
    )
    .await
}

/// Call, with client-side failures (no daemon) turned into a panic: tests expect a daemon.
pub async fn call(client: &Client, request: Request) -> Result<Response, WireError> {
    match client.call(request).await {
        Ok(r) => Ok(r),
        Err(proto::client::ClientError::Refused(e)) => Err(e),
        Err(e) => panic!("busd unavailable: {e}"),
    }
}

pub async fn send(client: &Client, to: &str, content: &str) -> i64 {
    match call(
        client,
        Request::Send {
            to: to.into(),
            content: content.into(),
            reply_to: None,
        },
    )
    .await
    {
        Ok(Response::Sent(s)) => s.id,
        other => panic!("send failed: {other:?}"),
    }
}

/// Consume up to `limit` messages, waiting up to `wait` seconds for the first.
pub async fn consume(client: &Client, limit: u32, wait: f64) -> proto::InboxPage {
    match call(
        client,
        Request::Inbox {
            consume: true,
            limit,
            wait,
            waiter: None,
        },
    )
    .await
    {
        Ok(Response::Inbox(page)) => page,
        other => panic!("inbox failed: {other:?}"),
    }
}

/// busd's status.
pub async fn status(client: &Client) -> proto::Status {
    match call(client, Request::Status).await {
        Ok(Response::Status(s)) => s,
        other => panic!("status failed: {other:?}"),
    }
}

/// The refusal of a call that must fail, checked for its kind.
pub fn refused(answer: Result<Response, WireError>, kind: proto::ErrorKind) -> String {
    match answer {
        Err(e) if e.kind == kind => e.message,
        other => panic!("expected a {kind:?} refusal, got {other:?}"),
    }
}

/// Start busd on `bus` and expect it (or, for a folder or file that is not private, already the
/// client starting it, with the same words) to refuse; returns the error.
pub async fn start_refused(bus: &TestBus) -> String {
    match spawn_daemon(&bus.paths, &busd_exe(), &[], false, Duration::from_secs(30)).await {
        Err(StartError::Failed(why)) => {
            eprintln!("refused: {why}");
            why
        }
        Err(StartError::Private(why)) => {
            eprintln!("refused by the client: {why}");
            why.to_string()
        }
        Ok(mut child) => {
            let _ = child.kill();
            panic!("busd started where it should have refused\n{}", bus.log());
        }
        Err(e) => panic!("{e}"),
    }
}
