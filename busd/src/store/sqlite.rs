//! The SQLite backend (stub: being written).

use std::path::Path;

use super::{Backend, Outcome, Read, StoreError, Write};

pub struct SqliteBackend {}

impl SqliteBackend {
    /// Open (creating or upgrading) the database at `path`.
    pub fn open(_path: &Path) -> anyhow::Result<SqliteBackend> {
        anyhow::bail!("not yet")
    }
}

impl Backend for SqliteBackend {
    fn read(&mut self, _read: &Read) -> Result<Outcome, StoreError> {
        Err(StoreError::Closed)
    }
    fn write(&mut self, _writes: &[Write]) -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        Err(StoreError::Closed)
    }
    fn close(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
