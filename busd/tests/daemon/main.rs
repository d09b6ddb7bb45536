//! busd's integration tests: a real daemon on a temp bus, driven over its socket.
//!
//! One test binary; each concern in its own module. Slow soak and fault tests are `#[ignore]`d
//! and run by the named command in the README.

mod arbitrary;
mod badinput;
mod client_faults;
mod common;
mod conn_limits;
mod coordination;
mod daemon_faults;
mod footprints;
mod hostile;
mod lifecycle;
mod mcp;
mod migration;
mod no_answer;
mod one_daemon;
mod private_files;
mod probe;
mod protocol;
mod rebinding;
mod resend;
mod shared;
mod soak;
mod storage_faults;
mod store_files;
mod store_thread;
mod tokens;
mod trust;
mod waiting;
mod wal_damage;
mod watch;

use common::*;
use proto::{Request, Response};

#[tokio::test]
async fn fixture_serves_and_stops_cleanly() {
    let mut bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    let id = send(&a, "b", "hello").await;
    let page = consume(&b, 10, 0.0).await;
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].id, id);
    assert!(
        matches!(call(&a, Request::Whoami).await, Ok(Response::Identity(i)) if i.name.as_deref() == Some("a"))
    );
    let status = bus.stop();
    assert!(status.success(), "busd exits 0 on SIGTERM: {status}");
    assert!(!bus.paths.socket.exists(), "socket removed on exit");
}
