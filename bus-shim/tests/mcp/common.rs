//! The fixture: real `bus-shim` processes driven by the workspace's MCP session driver on a
//! temp bus whose busd the first shim starts by itself ([`testkit`]).

#![allow(dead_code)]

use std::path::PathBuf;

pub use testkit::{PATIENCE, Session, TempBus};

/// The binaries under test: bus-shim, and busd beside it.
pub fn shim_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bus-shim"))
}

pub fn busd_exe() -> PathBuf {
    testkit::bin("busd")
}
