//! Where a bus lives: database, socket, log and lock files, from `BUS_DB` and `BUS_SOCKET`.

use std::path::{Path, PathBuf};

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
            Some(db) => absolute("BUS_DB", PathBuf::from(db))?,
            None => default_db()?,
        };
        let socket = std::env::var_os("BUS_SOCKET")
            .filter(|v| !v.is_empty())
            .map(|s| absolute("BUS_SOCKET", PathBuf::from(s)))
            .transpose()?;
        let explicit = socket.is_some();
        let paths = Self::new(db, socket);
        paths.check_socket_length(explicit)?;
        Ok(paths)
    }

    /// The paths for a database, with the socket beside it unless given.
    pub fn new(db: PathBuf, socket: Option<PathBuf>) -> Self {
        let dir = db.parent().map(Path::to_path_buf).unwrap_or_default();
        let socket = socket.unwrap_or_else(|| dir.join("busd.sock"));
        let sibling = |suffix: &str| {
            let mut s = socket.clone().into_os_string();
            s.push(suffix);
            PathBuf::from(s)
        };
        BusPaths {
            log: dir.join("busd.log"),
            daemon_lock: sibling(".lock"),
            db_lock: {
                let mut s = db.clone().into_os_string();
                s.push(".busd.lock");
                PathBuf::from(s)
            },
            start_lock: sibling(".start.lock"),
            db,
            socket,
        }
    }

    /// The folder that holds the database.
    pub fn dir(&self) -> &Path {
        self.db.parent().unwrap_or(Path::new("."))
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

fn default_db() -> std::io::Result<PathBuf> {
    let base = directories::BaseDirs::new().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no home folder: set BUS_DB to the database file to use",
        )
    })?;
    Ok(base.home_dir().join(".claude-bus").join("bus.db"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
