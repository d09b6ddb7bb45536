//! The names whose replies are reserved for a waiting ask, shared between the connection that
//! holds the reservations (the writer's: they live in its temporary table) and the
//! [`Backend::reader`](super::Backend::reader), which has none and so leaves the inbox reads
//! of those names to the writer.
//!
//! The set only ever errs on the side of the writer: a name is added inside the transaction
//! that reserves for it, before any reply to the ask can exist, and removed only once the
//! transaction that ended its last reservation is over.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Debug, Clone, Default)]
pub(crate) struct Reserved(Arc<Mutex<HashSet<String>>>);

impl Reserved {
    /// `name` may hold reservations from now on.
    pub(crate) fn add(&self, name: &str) {
        let mut names = self.names();
        if !names.contains(name) {
            names.insert(name.to_owned());
        }
    }

    /// A transaction ended: exactly `names` hold reservations.
    pub(crate) fn replace(&self, names: HashSet<String>) {
        *self.names() = names;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.names().is_empty()
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.names().contains(name)
    }

    fn names(&self) -> MutexGuard<'_, HashSet<String>> {
        // A set of names stays whole whatever panicked while holding it.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
