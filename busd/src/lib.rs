//! busd, the claude-bus daemon: the only process that opens the database.
//!
//! [`run`] serves a bound listener until `shutdown` resolves (or a client asks it to stop),
//! then shuts down gracefully. `main.rs` only parses arguments, takes the daemon lock and binds
//! (or inherits) the socket; tests bind a socket in a temp folder and call [`run`] directly.

mod conn;
mod handlers;
mod handshake;
pub mod hub;
mod intake;
pub mod listener;
pub mod presence;
mod server;
pub mod store;

pub use server::{Config, Daemon, run};
