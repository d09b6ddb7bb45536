//! Test support for every crate of the workspace and the benchmark: one throwaway bus with
//! its busd ([`TempBus`]), one MCP session driver over a spawned `bus-shim` ([`Session`]),
//! one typed call helper ([`call`]), the one scan of `/proc` for processes of a bus
//! ([`procs`]), waiting on a file without polling ([`files`]), and a throwaway PostgreSQL cluster with a fresh database per test
//! ([`postgres`]).
//!
//! Binaries are found where cargo built them ([`bin`]): the folder of the running test or
//! benchmark executable (`target/<profile>/`), so every crate's tests drive the same `busd`,
//! `bus-shim` and `bus`.

pub mod bus;
pub mod call;
pub mod files;
pub mod mcp;
pub mod postgres;
pub mod procs;
pub mod traffic;

use std::path::PathBuf;
use std::time::Duration;

pub use bus::TempBus;
pub use mcp::Session;

/// The safety net for anything a test waits on; never a measure of speed.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A binary of the workspace (`busd`, `bus-shim`, `bus`), built beside the running test, if it
/// is there.
pub fn find_bin(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent()?;
    // Tests and benchmarks run from `target/<profile>/deps/`; binaries are one folder up.
    if dir.ends_with("deps") {
        dir = dir.parent()?;
    }
    Some(dir.join(name)).filter(|p| p.is_file())
}

/// Like [`find_bin`], for a binary the test cannot do without.
pub fn bin(name: &str) -> PathBuf {
    find_bin(name).unwrap_or_else(|| {
        panic!(
            "{name} is not built beside this test: run the tests with `cargo test --workspace` (or build it: `cargo build --bin {name}`)"
        )
    })
}
