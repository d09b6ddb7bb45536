//! Where a bus lives: database, socket, log and lock files, from `BUS_DB` and `BUS_SOCKET`.

use std::path::{Path, PathBuf};

/// The database's file name in its folder when `BUS_DB` does not name one.
pub const DB_FILE: &str = "bus.db";

/// Every file of one bus. One `BUS_DB` isolates a whole bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusPaths {
    pub db: PathBuf,
    pub socket: PathBuf,
    /// busd's log when it was started by a client.
    pub log: PathBuf,
    /// Held exclusively by the running busd for its whole life: one busd per socket. It holds
    /// busd's pid.
    pub daemon_lock: PathBuf,
    /// Held exclusively by the busd serving the database, for its whole life: one busd per
    /// SQLite database, whatever socket it serves. It holds busd's pid and socket
    /// ([`DbLockHolder`]).
    pub db_lock: PathBuf,
    /// Serialises clients that start busd.
    pub start_lock: PathBuf,
}

impl BusPaths {
    /// The paths from the environment: `BUS_DB` (default `~/.claude-bus/bus.db`) and
    /// `BUS_SOCKET` (default `busd.sock` beside the database). A relative path is refused (it
    /// would name another bus in every working folder), and so is a socket path too long for
    /// a Unix socket.
    pub fn from_env() -> std::io::Result<Self> {
        let db = match std::env::var_os("BUS_DB").filter(|v| !v.is_empty()) {
            Some(db) if is_shared(Path::new(&db)) => PathBuf::from(db),
            Some(db) => absolute("BUS_DB", PathBuf::from(db))?,
            None => default_db()?,
        };
        let mut socket = std::env::var_os("BUS_SOCKET")
            .filter(|v| !v.is_empty())
            .map(|s| absolute("BUS_SOCKET", PathBuf::from(s)))
            .transpose()?;
        let explicit = socket.is_some();
        if socket.is_none() && is_shared(&db) {
            // A shared database has no folder here: the bus's local files go where they
            // would for the default database.
            socket = Some(default_db()?.with_file_name("busd.sock"));
        }
        let paths = Self::new(db, socket);
        paths.check_socket_length(explicit)?;
        Ok(paths)
    }

    /// The paths of a bus whose every file is in `dir`: the database under its usual name,
    /// the socket beside it (a throwaway bus: tests, the benchmark, `bus demo`).
    pub fn in_folder(dir: &Path) -> Self {
        Self::new(dir.join(DB_FILE), None)
    }

    /// The paths for a database, with the socket beside it unless given. For a shared
    /// database (a `postgres://` URL), every local file is in the socket's folder.
    pub fn new(db: PathBuf, socket: Option<PathBuf>) -> Self {
        let shared = is_shared(&db);
        let dir = match (&socket, shared) {
            (Some(socket), true) => socket.parent().map(Path::to_path_buf).unwrap_or_default(),
            _ => db.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let socket = socket.unwrap_or_else(|| dir.join("busd.sock"));
        let sibling = |suffix: &str| {
            let mut s = socket.clone().into_os_string();
            s.push(suffix);
            PathBuf::from(s)
        };
        BusPaths {
            log: dir.join("busd.log"),
            daemon_lock: sibling(".lock"),
            // One busd per SQLite file; a shared database has one busd per socket.
            db_lock: match shared {
                true => sibling(".db.lock"),
                false => {
                    let mut s = db.clone().into_os_string();
                    s.push(".busd.lock");
                    PathBuf::from(s)
                }
            },
            start_lock: sibling(".start.lock"),
            db,
            socket,
        }
    }

    /// The bus's folder here: the database's, or for a shared database the socket's.
    pub fn dir(&self) -> &Path {
        match self.is_shared() {
            true => self.socket_dir(),
            false => self.db.parent().unwrap_or(Path::new(".")),
        }
    }

    /// Whether the database is shared by several busd (a PostgreSQL URL), not a file.
    pub fn is_shared(&self) -> bool {
        is_shared(&self.db)
    }

    /// The database for messages and logs: the file, or the URL without its password.
    pub fn db_shown(&self) -> String {
        redact_url(&self.db.to_string_lossy())
    }

    /// The folder that holds the socket and its locks.
    pub fn socket_dir(&self) -> &Path {
        self.socket.parent().unwrap_or(Path::new("."))
    }

    /// Refuse a socket path longer than a Unix socket address holds, saying how to fix it.
    fn check_socket_length(&self, explicit: bool) -> std::io::Result<()> {
        let len = self.socket.as_os_str().len();
        if len < MAX_SOCKET_PATH {
            return Ok(());
        }
        let fix = if explicit {
            "set BUS_SOCKET to a shorter path"
        } else {
            "set BUS_SOCKET to a shorter path (the socket goes beside BUS_DB by default)"
        };
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the socket path {} is {len} bytes, longer than the {} a Unix socket allows: {fix}, e.g. BUS_SOCKET=/tmp/$(id -u)-bus/busd.sock in a folder of yours",
                self.socket.display(),
                MAX_SOCKET_PATH - 1
            ),
        ))
    }
}

/// Who holds [`BusPaths::db_lock`]: what busd writes into it, one field a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbLockHolder {
    pub pid: u32,
    pub socket: PathBuf,
}

impl DbLockHolder {
    /// The lock file's text.
    pub fn to_text(&self) -> String {
        format!("{}\n{}\n", self.pid, self.socket.display())
    }

    /// Read back what [`DbLockHolder::to_text`] wrote; `None` if it is not that.
    pub fn parse(text: &str) -> Option<DbLockHolder> {
        let mut lines = text.lines();
        let pid = lines.next()?.trim().parse().ok()?;
        let socket = PathBuf::from(lines.next()?);
        Some(DbLockHolder { pid, socket })
    }
}

/// The size of `sun_path` (108 on Linux, 104 on macOS), including the final NUL.
#[cfg(target_os = "linux")]
const MAX_SOCKET_PATH: usize = 108;
#[cfg(not(target_os = "linux"))]
const MAX_SOCKET_PATH: usize = 104;

/// `path` if it is absolute; a relative one names a different bus in each working folder.
fn absolute(var: &str, path: PathBuf) -> std::io::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path);
    }
    let suggestion = std::env::current_dir()
        .map(|cwd| cwd.join(&path).display().to_string())
        .unwrap_or_else(|_| "/an/absolute/path".into());
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "{var}={} is a relative path, which would be another bus in every working folder: set it to an absolute path, e.g. {var}={suggestion}",
            path.display()
        ),
    ))
}

/// `url` without its password (`user:***@host`); anything else as it is.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Whether `db` is a PostgreSQL URL rather than a file.
pub fn is_shared(db: &Path) -> bool {
    let db = db.to_string_lossy();
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

fn default_db() -> std::io::Result<PathBuf> {
    let base = directories::BaseDirs::new().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no home folder: set BUS_DB to the database file to use",
        )
    })?;
    Ok(base.home_dir().join(".claude-bus").join(DB_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_database_keeps_the_local_files_beside_the_socket() {
        let p = BusPaths::new(
            "postgres://bus:pw@db:5432/team".into(),
            Some("/tmp/m1/busd.sock".into()),
        );
        assert!(p.is_shared());
        assert_eq!(p.dir(), Path::new("/tmp/m1"));
        assert_eq!(p.log, Path::new("/tmp/m1/busd.log"));
        assert_eq!(p.db_lock, Path::new("/tmp/m1/busd.sock.db.lock"));
        assert_eq!(p.db_shown(), "postgres://bus:***@db:5432/team");
    }

    #[test]
    fn socket_and_locks_sit_beside_the_database() {
        let p = BusPaths::new("/tmp/x/bus.db".into(), None);
        assert_eq!(p.socket, PathBuf::from("/tmp/x/busd.sock"));
        assert_eq!(p.daemon_lock, PathBuf::from("/tmp/x/busd.sock.lock"));
        assert_eq!(p.log, PathBuf::from("/tmp/x/busd.log"));
        let q = BusPaths::new("/tmp/x/bus.db".into(), Some("/run/b.sock".into()));
        assert_eq!(q.start_lock, PathBuf::from("/run/b.sock.start.lock"));
        assert_eq!(q.db_lock, PathBuf::from("/tmp/x/bus.db.busd.lock"));
    }

    #[test]
    fn a_relative_path_is_refused_with_the_absolute_one_to_use() {
        let why = absolute("BUS_DB", "x/bus.db".into())
            .unwrap_err()
            .to_string();
        assert!(why.contains("BUS_DB=x/bus.db is a relative path"), "{why}");
        assert!(why.contains("/x/bus.db"), "{why}");
    }

    #[test]
    fn a_socket_path_too_long_names_bus_socket() {
        let long = format!("/tmp/{}/bus.db", "d".repeat(120));
        let p = BusPaths::new(long.into(), None);
        let why = p.check_socket_length(false).unwrap_err().to_string();
        assert!(why.contains("set BUS_SOCKET to a shorter path"), "{why}");
    }

    #[test]
    fn the_db_lock_names_its_holder() {
        let h = DbLockHolder {
            pid: 42,
            socket: "/run/b.sock".into(),
        };
        assert_eq!(DbLockHolder::parse(&h.to_text()), Some(h));
        assert_eq!(DbLockHolder::parse("garbage"), None);
    }
}
