//! The fixture: the workspace's temp bus and typed calls ([`testkit`]), and what only these
//! tests need: the busd under test, legacy databases, raw frames, a relay between client and
//! busd.

#![allow(dead_code)]

mod legacy;
mod raw;
mod relay;

pub use legacy::*;
pub use raw::*;
pub use relay::*;

use std::path::PathBuf;
use std::time::Duration;

use proto::client::{Client, StartError, call, spawn_daemon};
use proto::{Registered, WireError};
pub use testkit::TempBus;
pub use testkit::call::{consume, raw as call, refused, run, send, status, wait_until_waiting};
pub use testkit::procs::{busd_pids, signal};

/// The busd binary under test.
pub fn busd_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_busd"))
}

/// Register `name` on `client`.
pub async fn register(client: &Client, name: &str) -> Result<Registered, WireError> {
    run(client, call::register(name.into(), None, None)).await
}

/// Start busd on `bus` and expect it (or, for a folder or file that is not private, already the
/// client starting it, with the same words) to refuse; returns the error.
pub async fn start_refused(bus: &TempBus) -> String {
    match spawn_daemon(&bus.paths, &busd_exe(), &[], false, Duration::from_secs(30)).await {
        Err(StartError::Failed(why)) => {
            eprintln!("refused: {why}");
            why
        }
        Err(StartError::Private(why)) => {
            eprintln!("refused by the client: {why}");
            why.to_string()
        }
        Ok(mut child) => {
            let _ = child.kill();
            panic!("busd started where it should have refused\n{}", bus.log());
        }
        Err(e) => panic!("{e}"),
    }
}
