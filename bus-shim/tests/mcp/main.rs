//! End-to-end tests: real bus-shim processes over MCP stdio, a real busd behind them.

mod ask;
mod badargs;
mod channel;
mod cli;
mod common;
mod concurrency;
mod http;
mod identity;
mod listing;
mod mail;
mod peer;
mod presence;
// The relay of busd's own tests, shared rather than copied.
#[path = "../../../busd/tests/daemon/common/relay.rs"]
mod relay;
mod restart;
mod startup;
mod state;
mod state_wait;
mod thread;
mod waiting;

use common::*;
use serde_json::json;

#[tokio::test]
async fn two_sessions_exchange_a_message() {
    let bus = TempBus::empty();
    let a = bus.named("alpha").await;
    let b = bus.named("beta").await;
    let sent = a.ok("send", json!({"to": "beta", "content": "hi"})).await;
    let page = b.ok("inbox", json!({})).await;
    assert_eq!(page["messages"][0]["id"], sent["id"]);
    assert_eq!(page["messages"][0]["from"], "alpha");
    assert_eq!(page["pending_count"], 0);
}
