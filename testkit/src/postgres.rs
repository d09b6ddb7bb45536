//! A throwaway PostgreSQL cluster for tests, a real server and never a mock: [`cluster`] is the
//! one every test of the process shares, [`Cluster::start_new`] one a test owns and may stop
//! and start; [`Cluster::database`] gives each caller a fresh empty database.
//!
//! Without PostgreSQL (no `initdb` on PATH or in `/usr/lib/postgresql/*/bin`) the tests skip,
//! saying so in one line; with `BUS_PG_REQUIRE=1` (CI) they fail instead.
//!
//! A cluster lives in a fresh folder under `/tmp` (short enough for its socket path, and
//! reachable by the user `postgres`) and goes when its owner drops it or when the test process
//! ends in any way, a panic or `kill -9` included: a reaper child waits for the end of a pipe
//! only this process holds open, then stops the server and removes the folder. As root
//! (containers) the PostgreSQL tools run as the user `postgres`, since they refuse root.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::PATIENCE;

mod tls;

/// The superuser every cluster is created with; authentication is `trust`, so no password.
pub const SUPERUSER: &str = "postgres";
/// The system account the tools run as when the tests run as root.
const RUN_AS: &str = "postgres";
const HOST: &str = "127.0.0.1";
/// The `pg_hba.conf` line, before initdb's `trust` ones, that makes the members of `pw_users`
/// give a password over TCP ([`Cluster::database_with_password`]).
const PASSWORD_ROLES: &str = "host all +pw_users 127.0.0.1/32 scram-sha-256";
/// Attempts at a free port: another process may take the one picked before the server binds.
const PORT_ATTEMPTS: usize = 5;

/// The cluster shared by every test of this process, started on first use; `None` (after one
/// line on stderr) when PostgreSQL is not installed. Tests must not stop it: a test that stops
/// the server takes one of its own from [`Cluster::start_new`].
pub fn cluster() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
    SHARED
        .get_or_init(|| tools().map(|tools| Cluster::create(tools, true, false)))
        .as_ref()
}

/// A running PostgreSQL server on `127.0.0.1`, its data in a temp folder.
pub struct Cluster {
    data: PathBuf,
    port: u16,
    tools: &'static Tools,
    /// The one from [`cluster`], which tests must not stop.
    shared: bool,
    /// With TLS ([`Cluster::start_tls`]): the CA that signed the server's certificate.
    ca_file: Option<PathBuf>,
    /// Stops the server and removes the folder when dropped, or when this process ends.
    _reaper: Reaper,
}

impl Cluster {
    /// A cluster of the caller's own, stopped and removed when dropped; `None` (after one line
    /// on stderr) when PostgreSQL is not installed.
    pub fn start_new() -> Option<Cluster> {
        tools().map(|tools| Cluster::create(tools, false, false))
    }

    /// Like [`Cluster::start_new`], a server that speaks TLS and refuses TCP connections
    /// without it; its certificate, signed by a CA of its own ([`Cluster::ca_file`]), names
    /// `127.0.0.1` and nothing else.
    pub fn start_tls() -> Option<Cluster> {
        tools().map(|tools| Cluster::create(tools, false, true))
    }

    /// The CA to trust (`sslrootcert=`) for a cluster from [`Cluster::start_tls`].
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// A fresh empty database (a unique name); its URL for [`SUPERUSER`].
    pub fn database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.admin(|client| client.batch_execute(&format!("CREATE DATABASE {name}")))
            .unwrap_or_else(|e| {
                panic!(
                    "creating database {name} on {}: {e}",
                    self.url_of("postgres")
                )
            });
        self.url_of(&name)
    }

    /// A fresh empty database owned by a new role that must give `password` (a member of
    /// `pw_users`, which the server asks for one: [`PASSWORD_ROLES`]); its URL for that role,
    /// without the password.
    pub fn database_with_password(&self, password: &str) -> String {
        let url = self.database();
        let db = url.rsplit('/').next().expect("a database name").to_owned();
        let role = format!("pw_{db}");
        let quoted = password.replace('\'', "''");
        self.admin(|client| {
            client.batch_execute(&format!(
                "DO $$ BEGIN CREATE ROLE pw_users NOLOGIN; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
                 CREATE ROLE {role} LOGIN PASSWORD '{quoted}' IN ROLE pw_users; \
                 ALTER DATABASE {db} OWNER TO {role}"
            ))
        })
        .unwrap_or_else(|e| panic!("creating role {role}: {e}"));
        format!("postgres://{role}@{HOST}:{}/{db}", self.port)
    }

    /// The URL of database `db` on this cluster.
    pub fn url_of(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@{HOST}:{}/{db}", self.port)
    }

    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The port, the same across [`Cluster::stop`] and [`Cluster::start`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Ends every connection to one database (its name or URL) and waits until their backends
    /// have exited; how many there were.
    pub fn terminate_connections(&self, db_url_or_name: &str) -> usize {
        let name = db_url_or_name
            .rsplit_once('/')
            .map_or(db_url_or_name, |(_, rest)| rest);
        let name = name.split('?').next().unwrap_or(name);
        let wait_ms = i64::try_from(PATIENCE.as_millis()).unwrap_or(i64::MAX);
        let ended = self
            .admin(|client| {
                client.query(
                    "SELECT pg_terminate_backend(pid, $2) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name, &wait_ms],
                )
            })
            .unwrap_or_else(|e| panic!("terminating the connections to {name}: {e}"));
        for row in &ended {
            assert!(
                row.get::<_, bool>(0),
                "a backend of {name} did not exit within {PATIENCE:?}"
            );
        }
        ended.len()
    }

    /// Stop the server (`pg_ctl stop -m fast`) and wait until it has exited.
    pub fn stop(&self) {
        self.owned("stop");
        let mut stop = self.tools.command("pg_ctl");
        stop.arg("stop").arg("-D").arg(&self.data);
        stop.args(["-m", "fast", "-w", "-t", &PATIENCE.as_secs().to_string()]);
        run(&mut stop, "pg_ctl stop");
    }

    /// Start the stopped server on its port and wait until it accepts connections.
    pub fn start(&self) {
        self.owned("start");
        if let Err(why) = self.pg_ctl_start(self.port) {
            panic!(
                "PostgreSQL did not start again on port {}: {why}",
                self.port
            );
        }
    }

    pub fn restart(&self) {
        self.stop();
        self.start();
    }

    /// The pids of the server's processes that `pg_stat_activity` lists: every connection's
    /// backend and the background workers (WAL writer, checkpointer, …), for their CPU time.
    pub fn server_pids(&self) -> Vec<u32> {
        let rows = self
            .admin(|client| client.query("SELECT pid FROM pg_stat_activity", &[]))
            .unwrap_or_else(|e| panic!("reading pg_stat_activity: {e}"));
        rows.iter()
            .filter_map(|row| u32::try_from(row.get::<_, i32>(0)).ok())
            .collect()
    }

    /// Run `sql` (statements without parameters) on database `db` (its name or URL) as the
    /// superuser, over the Unix socket; the rows of every statement, each row's columns as
    /// text.
    pub fn query_text(&self, db_url_or_name: &str, sql: &str) -> Vec<Vec<String>> {
        let name = db_url_or_name
            .rsplit_once('/')
            .map_or(db_url_or_name, |(_, rest)| rest);
        let name = name.split('?').next().unwrap_or(name).to_owned();
        self.admin_on(&name, |client| client.simple_query(sql))
            .unwrap_or_else(|e| panic!("running {sql} on {name}: {e}"))
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).unwrap_or("").to_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// The folder of the PostgreSQL tools this cluster runs (`pg_test_fsync` is there too).
    pub fn bin_dir(&self) -> &Path {
        &self.tools.bin
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn create(tools: &'static Tools, shared: bool, tls: bool) -> Cluster {
        let base = tempfile::Builder::new()
            .prefix("bus-pg-")
            .tempdir_in("/tmp")
            .expect("a temp folder for PostgreSQL")
            .keep();
        let data = base.join("data");
        // The reaper first, so that a failure below, or the end of the process, removes it all.
        let reaper = Reaper::spawn(tools, &base, &data);
        // 0755 so that the user `postgres` reaches its data folder when we are root.
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))
            .expect("permissions of the PostgreSQL temp folder");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&data)
            .expect("a data folder for PostgreSQL");
        if let Some(uid) = tools.run_as {
            std::os::unix::fs::chown(&data, Some(uid), None).expect("chown the data folder");
        }
        let mut initdb = tools.command("initdb");
        initdb.arg("-D").arg(&data);
        initdb.args([
            "--auth=trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        // Killed during initdb, this process would leave it writing into a folder the reaper
        // removes: the reaper waits for initdb too.
        reaper.hold(&mut initdb);
        run(&mut initdb, "initdb");
        // In the configuration file rather than `pg_ctl -o` (which goes through a shell), so
        // that every start has them; only the port is given per start.
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("postgresql.conf after initdb");
        writeln!(
            conf,
            "\n# bus-testkit\nlisten_addresses = '{HOST}'\nunix_socket_directories = '{}'\nmax_connections = 200",
            data.display()
        )
        .expect("writing postgresql.conf");
        drop(conf);
        let hba = data.join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf after initdb");
        std::fs::write(&hba, format!("{PASSWORD_ROLES}\n{rules}")).expect("writing pg_hba.conf");
        let ca_file = tls.then(|| tls::enable(&base, &data, tools.run_as));
        let mut cluster = Cluster {
            data,
            port: 0,
            tools,
            shared,
            ca_file,
            _reaper: reaper,
        };
        cluster.port = cluster.first_start();
        cluster
    }

    /// Start on a free port, picking another when someone took it before the server bound it.
    fn first_start(&self) -> u16 {
        let mut why = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("a free port on 127.0.0.1")
                .port();
            match self.pg_ctl_start(port) {
                Ok(()) => return port,
                Err(e) if e.contains("could not bind") || e.contains("already in use") => why = e,
                Err(e) => panic!("PostgreSQL did not start: {e}"),
            }
        }
        panic!("PostgreSQL found no free port in {PORT_ATTEMPTS} attempts: {why}");
    }

    /// `pg_ctl start -w`, which returns once the server accepts connections; when it fails,
    /// what pg_ctl said and the log it wrote.
    fn pg_ctl_start(&self, port: u16) -> Result<(), String> {
        let log = self.log_path();
        let from = std::fs::metadata(&log).map_or(0, |m| m.len());
        let mut start = self.tools.command("pg_ctl");
        start
            .arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log);
        start.args(["-w", "-t", &PATIENCE.as_secs().to_string()]);
        start.arg("-o").arg(format!("-p {port}"));
        let out = start.output().expect("pg_ctl runs");
        if out.status.success() {
            return Ok(());
        }
        let mut written = String::new();
        if let Ok(mut file) = std::fs::File::open(&log) {
            let _ = file.seek(SeekFrom::Start(from));
            let _ = file.read_to_string(&mut written);
        }
        let tail: Vec<&str> = written.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "{}\nthe end of {}:\n{}",
            said(&out),
            log.display(),
            tail.join("\n")
        ))
    }

    fn log_path(&self) -> PathBuf {
        self.data.join("server.log")
    }

    /// Work on the `postgres` database, over the Unix socket (a TLS cluster refuses TCP
    /// without TLS). The sync client runs a tokio runtime of its own, which panics inside a
    /// caller's runtime (an async test): a thread of its own keeps them apart.
    fn admin<T: Send>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send,
    ) -> Result<T, postgres::Error> {
        self.admin_on("postgres", work)
    }

    /// Like [`Cluster::admin`], on database `db`.
    fn admin_on<T: Send>(
        &self,
        db: &str,
        work: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send,
    ) -> Result<T, postgres::Error> {
        let mut config = postgres::Config::new();
        config
            .host_path(&self.data)
            .port(self.port)
            .user(SUPERUSER)
            .dbname(db)
            .connect_timeout(PATIENCE);
        std::thread::scope(|s| {
            s.spawn(|| work(&mut config.connect(postgres::NoTls)?))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn owned(&self, what: &str) {
        assert!(
            !self.shared,
            "Cluster::{what} on the shared cluster, which tests use in parallel: a test that stops the server takes its own from Cluster::start_new()"
        );
    }
}

/// A child that waits for the end of its stdin, a pipe whose write end only this process holds
/// (std opens it close-on-exec, so no other child inherits it, save one we [`Reaper::hold`]),
/// then stops the server and removes the folder. Dropping it closes the pipe and waits for the
/// cleanup; the end of this process, however it comes, closes the pipe too.
struct Reaper {
    child: Child,
}

impl Reaper {
    fn spawn(tools: &Tools, base: &Path, data: &Path) -> Reaper {
        let pg_ctl = tools.command("pg_ctl");
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"base=$1 data=$2; shift 2; cat >/dev/null; "$@" stop -D "$data" -m immediate; rm -rf "$base""#)
            .arg("bus-pg-reaper")
            .arg(base)
            .arg(data)
            .arg(pg_ctl.get_program())
            .args(pg_ctl.get_args())
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Out of the terminal's process group, so that ^C ends the tests, not their cleanup.
            .process_group(0)
            .spawn()
            .expect("sh for the PostgreSQL reaper");
        Reaper { child }
    }

    /// Let `cmd` hold the pipe open too, so that the reaper starts once `cmd` has ended as
    /// well. Never for `pg_ctl start`, whose server would hold it for ever: killed during a
    /// start, this process may leave a server without its folder, which ends itself within a
    /// minute (the postmaster checks its lock file).
    fn hold(&self, cmd: &mut Command) {
        let fd = self
            .child
            .stdin
            .as_ref()
            .expect("the reaper's pipe")
            .as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and calls only fcntl, which
        // is async-signal-safe; `fd` is open there, since this process holds it.
        unsafe {
            cmd.pre_exec(move || match libc::fcntl(fd, libc::F_SETFD, 0) {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            });
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Where the PostgreSQL tools are, and as whom they run.
struct Tools {
    bin: PathBuf,
    /// The uid of [`RUN_AS`] when we are root.
    run_as: Option<u32>,
}

impl Tools {
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        let mut cmd = match self.run_as {
            Some(_) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", RUN_AS, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        };
        // A folder every user can enter: the test's own may be closed to `postgres`.
        cmd.current_dir("/").stdin(Stdio::null());
        cmd
    }
}

/// The tools, found once; `None` after one line on stderr, or a panic with `BUS_PG_REQUIRE=1`.
fn tools() -> Option<&'static Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    match TOOLS.get_or_init(find_tools) {
        Ok(tools) => Some(tools),
        Err(why) => {
            if std::env::var_os("BUS_PG_REQUIRE").is_some_and(|v| v == "1") {
                panic!("BUS_PG_REQUIRE=1 but the PostgreSQL tests cannot run: {why}");
            }
            static SAID: OnceLock<()> = OnceLock::new();
            SAID.get_or_init(|| {
                // Straight to the descriptor: libtest captures eprintln! of passing tests.
                let _ = writeln!(std::io::stderr(), "skipping the PostgreSQL tests: {why}");
            });
            None
        }
    }
}

/// The folder of `initdb` on PATH (through its symlinks, to find `pg_ctl` beside it), else
/// the newest `/usr/lib/postgresql/*/bin`.
fn find_tools() -> Result<Tools, String> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| dir.join("initdb").canonicalize().ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|bin| complete(bin));
    let bin = on_path.or_else(newest_debian).ok_or(
        "no initdb on PATH or in /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)",
    )?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let run_as = if root { Some(uid_of(RUN_AS)?) } else { None };
    Ok(Tools { bin, run_as })
}

fn newest_debian() -> Option<PathBuf> {
    let version = |bin: &PathBuf| -> Vec<u32> {
        let name = bin
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str());
        name.unwrap_or_default()
            .split('.')
            .map(|part| part.parse().unwrap_or(0))
            .collect()
    };
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| complete(bin))
        .max_by_key(version)
}

fn complete(bin: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|tool| bin.join(tool).is_file())
}

fn uid_of(user: &str) -> Result<u32, String> {
    let out = Command::new("id").args(["-u", user]).output();
    out.ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .ok_or_else(|| {
            format!("running as root, and initdb refuses root; it runs as the user '{user}', which does not exist (Debian's postgresql package creates it)")
        })
}

/// Run a tool to its end; when it fails, panic with what it said.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} does not run: {e}"));
    assert!(out.status.success(), "{what} failed: {}", said(&out));
}

fn said(out: &Output) -> String {
    format!(
        "{}; {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select_1(url: &str) -> Result<i32, postgres::Error> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        Ok(client.query_one("SELECT 1", &[])?.get(0))
    }

    #[test]
    fn the_shared_cluster_gives_each_caller_a_fresh_database() {
        let Some(pg) = cluster() else { return };
        let urls: Vec<String> = std::thread::scope(|s| {
            let made: Vec<_> = (0..2).map(|_| s.spawn(|| pg.database())).collect();
            made.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_ne!(urls[0], urls[1]);
        for url in &urls {
            assert_eq!(select_1(url).unwrap(), 1, "{url}");
            let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
            let tables: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                    &[],
                )
                .unwrap()
                .get(0);
            assert_eq!(tables, 0, "{url} is not empty");
        }
    }

    #[tokio::test]
    async fn a_database_can_be_made_inside_an_async_test() {
        let Some(pg) = cluster() else { return };
        let url = pg.database();
        assert!(url.starts_with(&format!("postgres://{SUPERUSER}@{HOST}:{}/t_", pg.port())));
    }

    #[test]
    fn terminating_the_connections_of_a_database_ends_them() {
        let Some(pg) = cluster() else { return };
        let url = pg.database();
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.batch_execute("SELECT 1").unwrap();
        assert_eq!(pg.terminate_connections(&url), 1);
        assert!(client.batch_execute("SELECT 1").is_err());
        assert_eq!(select_1(&url).unwrap(), 1);
    }

    #[test]
    #[should_panic(expected = "Cluster::stop on the shared cluster")]
    fn the_shared_cluster_refuses_to_stop() {
        let Some(pg) = cluster() else {
            panic!("Cluster::stop on the shared cluster (skipped: no PostgreSQL)")
        };
        pg.stop();
    }

    #[test]
    fn an_own_cluster_stops_and_starts_on_its_port() {
        let Some(pg) = Cluster::start_new() else {
            return;
        };
        let url = pg.database();
        pg.stop();
        assert!(select_1(&url).is_err(), "a stopped server answered");
        pg.start();
        assert_eq!(select_1(&url).unwrap(), 1);
        pg.restart();
        assert_eq!(select_1(&url).unwrap(), 1);
        let base = pg.data.parent().unwrap().to_path_buf();
        drop(pg);
        assert!(!base.exists(), "{} outlived its cluster", base.display());
    }
}
