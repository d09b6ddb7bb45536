//! busd dying under live sessions: every shim reconnects by itself (starting a new busd),
//! binds its name again and carries on; a waiting call in flight is resent and completes; a
//! consuming call cancelled just before the connection went keeps the mail it took; an idle
//! shim does so at once, without waiting for a call.

use proto::{Request, Response};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::*;
use crate::relay::{Passed, Relay};

#[tokio::test]
async fn after_busd_is_killed_shims_reconnect_rebind_and_carry_on() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let before = b.ok("send", json!({"to": "a", "content": "before"})).await;
    let waiting = a.start("inbox", json!({"wait": 120, "limit": 1})).await;
    let first = Session::finish(waiting).await;
    assert_eq!(first["messages"][0]["id"], before["id"]);

    let waiting = a.start("inbox", json!({"wait": 120})).await;
    let old = bus.busd_pid().expect("busd runs");
    // SAFETY: killing the busd this test's shims started.
    unsafe {
        libc::kill(old as i32, libc::SIGKILL);
    }
    let after = b.ok("send", json!({"to": "a", "content": "after"})).await;
    let page = Session::finish(waiting).await;
    assert_eq!(
        page["messages"][0]["id"], after["id"],
        "the wait was resent and answered"
    );
    assert_ne!(bus.busd_pid(), Some(old), "a new busd serves");

    assert_eq!(
        a.ok("whoami", json!({})).await["name"],
        "a",
        "names bound again"
    );
    let c = bus.session().await;
    let why = c.err("register", json!({"name": "a"})).await;
    assert!(why.contains("held by a connected session"), "{why}");
    let rest = a.ok("inbox", json!({})).await;
    assert_eq!(
        rest,
        json!({"messages": [], "pending_count": 0}),
        "nothing twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consuming_inbox_cancelled_as_busd_goes_away_hands_its_mail_to_the_next_call() {
    let bus = TempBus::empty();
    let b = bus.named("b").await;
    // a's shim reaches busd through a relay that can lose replies and break the connection.
    let mut relay = Relay::start(
        bus.dir.path().join("busd.sock"),
        bus.dir.path().join("relay.sock"),
    );
    let socket = relay.socket.display().to_string();
    let a = bus.session_with(&[("BUS_SOCKET", &socket)]).await;
    a.ok("register", json!({"name": "a"})).await;
    let mut sent = Vec::new();
    for content in ["one", "two", "three"] {
        sent.push(b.ok("send", json!({"to": "a", "content": content})).await["id"].clone());
    }

    relay.hold_replies();
    let call = a.start("inbox", json!({"limit": 1000})).await;
    // busd took the messages and answered; the answer does not get through.
    loop {
        if let Passed::HeldBack(reply) = relay.next().await {
            assert!(
                matches!(&reply.body, Ok(Response::Inbox(page)) if page.messages.len() == 3),
                "{reply:?}"
            );
            break;
        }
    }
    // The MCP client cancels; the cancel reaches busd; then the connection is gone.
    call.cancel(Some("the user pressed escape".into()))
        .await
        .expect("cancel sent");
    loop {
        if let Passed::Request(envelope) = relay.next().await
            && matches!(envelope.body, Request::Cancel { .. })
        {
            break;
        }
    }
    relay.cut();

    let page = a.ok("inbox", json!({"wait": 30})).await;
    let ids: Vec<_> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(
        ids, sent,
        "held by the shim and handed to the next call: {page}"
    );
    let rest = a.ok("inbox", json!({})).await;
    assert_eq!(
        rest,
        json!({"messages": [], "pending_count": 0}),
        "nothing twice"
    );
}

#[tokio::test]
async fn an_idle_shim_is_back_online_after_busd_restarts_without_a_call() {
    let bus = TempBus::empty();
    let (a, stderr) = bus
        .session_with_stderr(&[("BUS_NAME", "idle"), ("BUS_LOG", "info")])
        .await;
    assert_eq!(a.ok("whoami", json!({})).await["name"], "idle");
    let mut lines = BufReader::new(stderr).lines();

    let old = bus.busd_pid().expect("busd runs");
    // SAFETY: killing the busd this test's shim started.
    unsafe {
        libc::kill(old as i32, libc::SIGKILL);
    }
    // The shim sees its connection end and connects again by itself (starting a new busd).
    let rebound = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            if line.contains("bound the identity again") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        rebound,
        Ok(true),
        "the idle shim did not bind its name again"
    );
    assert_ne!(bus.busd_pid(), Some(old), "a new busd serves");

    // Without any call from the idle session, it is online and its name is held.
    let c = bus.session().await;
    let why = c.err("register", json!({"name": "idle"})).await;
    assert!(why.contains("held by a connected session"), "{why}");
    c.ok("register", json!({"name": "observer"})).await;
    let agents = c.ok("agents", json!({})).await;
    let idle = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "idle")
        .cloned()
        .expect("idle is listed");
    assert_eq!(idle["status"], "online", "{agents}");
}

#[tokio::test]
async fn a_waiting_inbox_carries_on_across_a_restart() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let waiting = a.start("inbox", json!({"wait": 120})).await;
    let old = bus.busd_pid().expect("busd runs");

    // What `bus restart` asks: busd says it restarts, and the wait asks the next busd.
    let paths = bus.paths.clone();
    let mut opts = proto::client::ClientOptions::new(paths, proto::ClientKind::Other);
    opts.autostart = false;
    let admin = proto::client::Client::new(opts);
    assert_eq!(
        admin.call(proto::Request::Restart).await,
        Ok(proto::Response::Done)
    );

    let sent = b
        .ok("send", json!({"to": "a", "content": "after the restart"}))
        .await;
    let page = Session::finish(waiting).await;
    assert_eq!(
        page["messages"][0]["id"], sent["id"],
        "the wait went on and got the mail: {page}"
    );
    assert_ne!(bus.busd_pid(), Some(old), "a new busd serves");
}
