//! The database's files before SQLite opens them: private to busd's user.
//!
//! SQLite creates the database `0644` and gives the `-wal` and `-shm` files the database's
//! mode, so busd creates a missing database itself, empty and `0600`; every file of the
//! database that already exists must be a regular file of busd's user that no one else can
//! write to (tightened to `0600` if others could read it), or it is refused untouched.

use std::path::{Path, PathBuf};

use anyhow::Context;
use proto::private;

/// The files SQLite keeps beside a database.
const SIDE_FILES: [(&str, &str); 3] = [
    ("-wal", "the database's write-ahead log"),
    ("-shm", "the database's shared-memory index"),
    ("-journal", "the database's rollback journal"),
];

/// Check the database at `db` and the files beside it, creating a missing database `0600`.
pub(super) fn prepare(db: &Path) -> anyhow::Result<()> {
    for (suffix, what) in SIDE_FILES {
        private::check_file(&beside(db, suffix), what)?;
    }
    private::check_file(db, "the database")?;
    if !db.exists() {
        private::open_file(db, "the database", false)
            .with_context(|| "creating the database".to_string())?;
    }
    Ok(())
}

/// The file named like `db` with `suffix` appended (`bus.db-wal`).
pub(super) fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
