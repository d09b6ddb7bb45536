//! The seam for running the coordination tests across two busd on one shared bus (planned: a
//! PostgreSQL backend): a session made here is "the other side" of a wait, an ask or a
//! thread. Today it is a session of the test's own busd; once a second busd can serve the same
//! bus, this is the one place to point it there, and the tests run across the two unchanged.

use crate::common::{Session, TempBus};

/// A registered session on the other side.
pub async fn peer(bus: &TempBus, name: &str) -> Session {
    bus.named(name).await
}
