//! Where a bus lives: database, socket, log and lock files, from `BUS_DB` and `BUS_SOCKET`.

use std::path::{Path, PathBuf};

/// Every file of one bus. One `BUS_DB` isolates a whole bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusPaths {
    pub db: PathBuf,
    pub socket: PathBuf,
    /// busd's log when it was started by a client.
    pub log: PathBuf,
    /// Held exclusively by the running busd for its whole life.
    pub daemon_lock: PathBuf,
    /// Serialises clients that start busd.
    pub start_lock: PathBuf,
}

impl BusPaths {
    /// The paths from the environment: `BUS_DB` (default `~/.claude-bus/bus.db`) and
    /// `BUS_SOCKET` (default `busd.sock` beside the database).
    pub fn from_env() -> std::io::Result<Self> {
        let db = match std::env::var_os("BUS_DB").filter(|v| !v.is_empty()) {
            Some(db) => PathBuf::from(db),
            None => default_db()?,
        };
        let socket = std::env::var_os("BUS_SOCKET")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Ok(Self::new(db, socket))
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
            start_lock: sibling(".start.lock"),
            db,
            socket,
        }
    }

    /// The folder that holds the database.
    pub fn dir(&self) -> &Path {
        self.db.parent().unwrap_or(Path::new("."))
    }
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
    }
}
