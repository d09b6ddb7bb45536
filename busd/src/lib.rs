//! busd, the claude-bus daemon: the only process that opens the database.
//!
//! [`run`] serves a bound listener until `shutdown` resolves (or a client asks it to stop),
//! then shuts down gracefully. `main.rs` only parses arguments, takes the daemon lock and binds
//! (or inherits) the socket; tests bind a socket in a temp folder and call [`run`] directly.

mod conn;
mod handlers;
mod handshake;
pub mod hub;
mod identity;
mod intake;
pub mod listener;
mod outbox;
pub mod presence;
mod server;
mod shared;
pub mod store;

pub use server::{Daemon, run};
pub use shared::Config;
