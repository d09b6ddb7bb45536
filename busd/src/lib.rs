//! busd: the claude-bus daemon.
pub mod store;
