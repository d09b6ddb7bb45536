//! busd dying under live sessions: every shim reconnects by itself (starting a new busd),
//! binds its name again and carries on; a waiting call in flight is resent and completes.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn after_busd_is_killed_shims_reconnect_rebind_and_carry_on() {
    let bus = Bus::new();
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
        libc::kill(old, libc::SIGKILL);
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
