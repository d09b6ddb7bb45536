//! Every tool over HTTP, and waiting and waking across HTTP and stdio sessions.

use serde_json::json;

use super::*;

#[tokio::test]
async fn every_tool_works_over_http() {
    let bus = TempBus::empty();
    // The front starts busd itself, like every client.
    let front = Front::start(&bus, &[]).await;
    let alpha = front
        .session(&token(&bus, "alpha", Some("api")).await)
        .await;
    let beta = front.session(&token(&bus, "beta", None).await).await;
    assert_eq!(alpha.tools().await.len(), 12);
    // Bound to the token's name from the first call, with the token's role.
    assert_eq!(
        alpha.ok("whoami", json!({})).await,
        json!({"name": "alpha"})
    );
    let me = alpha
        .ok("register", json!({"name": "alpha", "owns": ["src/**"]}))
        .await;
    assert_eq!(me["role"], "api");
    assert_eq!(me["owns"], json!(["src/**"]));
    let agents = beta.ok("agents", json!({})).await;
    assert!(agents.to_string().contains("alpha"), "{agents}");

    let sent = alpha
        .ok("send", json!({"to": "beta", "content": "hello"}))
        .await;
    let page = beta.ok("inbox", json!({})).await;
    assert_eq!(page["messages"][0]["id"], sent["id"]);
    assert_eq!(page["messages"][0]["from"], "alpha");
    let status = alpha
        .ok("message_status", json!({"message_id": sent["id"]}))
        .await;
    assert!(status.to_string().contains("beta"), "{status}");

    let written = alpha
        .ok("set_state", json!({"key": "k", "value": "v"}))
        .await;
    assert_eq!(written["version"], 1);
    let state = beta.ok("get_state", json!({"key": "k"})).await;
    assert_eq!(state["state"][0]["value"], "v");
    let keys = beta.ok("list_state", json!({})).await;
    assert_eq!(keys["keys"][0]["key"], "k");

    alpha.ok("claim", json!({"path": "src/a.rs"})).await;
    let refused = beta.err("claim", json!({"path": "src/a.rs"})).await;
    assert!(refused.contains("claimed by 'alpha'"), "{refused}");
    let claims = beta.ok("list_claims", json!({})).await;
    assert_eq!(claims["claims"][0]["owner"], "alpha");
    alpha.ok("release", json!({"path": "src/a.rs"})).await;
}

#[tokio::test]
async fn an_http_wait_is_woken_by_a_stdio_send_and_the_reverse() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let web = front.session(&token(&bus, "web", None).await).await;
    let local = bus.named("local").await;
    web.ok("whoami", json!({})).await;

    let waiting = web.start("inbox", json!({"wait": 3600})).await;
    let sent = local
        .ok("send", json!({"to": "web", "content": "to http"}))
        .await;
    let page = Session::finish(waiting).await;
    assert_eq!(page["messages"][0]["id"], sent["id"]);

    let waiting = local.start("inbox", json!({"wait": 3600})).await;
    let sent = web
        .ok("send", json!({"to": "local", "content": "to stdio"}))
        .await;
    let page = Session::finish(waiting).await;
    assert_eq!(page["messages"][0]["id"], sent["id"]);
}

#[tokio::test]
async fn a_cancelled_http_wait_loses_nothing() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let web = front.session(&token(&bus, "web", None).await).await;
    let local = bus.named("local").await;
    let waiting = web.start("inbox", json!({"wait": 3600})).await;
    waiting.cancel(None).await.expect("cancel sent");
    let sent = local
        .ok("send", json!({"to": "web", "content": "after"}))
        .await;
    let page = web.ok("inbox", json!({})).await;
    assert_eq!(page["messages"][0]["id"], sent["id"], "handed over once");
    assert_eq!(web.ok("inbox", json!({})).await["messages"], json!([]));
}

#[tokio::test]
async fn a_wait_without_progress_ends_before_the_session_would_idle_out() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &["--idle-timeout", "2"]).await;
    let web = front.session(&token(&bus, "web", None).await).await;
    // No progress token: nothing crosses the session while it waits, so the wait is cut to
    // under the idle timeout and ends empty instead of the session being closed under it.
    let page = web.ok("inbox", json!({"wait": 3600})).await;
    assert_eq!(page, json!({"messages": [], "pending_count": 0}));
    assert_eq!(web.ok("whoami", json!({})).await, json!({"name": "web"}));
    // The same for the other waiting calls: a change of state, and an ask.
    let state = web
        .ok(
            "get_state",
            json!({"key": "never", "after_version": 0, "wait": 3600}),
        )
        .await;
    assert_eq!(state, json!({"state": []}));
    let asked = web
        .ok(
            "send",
            json!({"to": "nobody", "content": "anyone?", "wait_reply": 3600}),
        )
        .await;
    assert_eq!(asked["reply"], serde_json::Value::Null, "{asked}");
    assert_eq!(web.ok("whoami", json!({})).await, json!({"name": "web"}));
}

#[tokio::test]
async fn http_sessions_carry_on_across_a_busd_restart() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let web = front.session(&token(&bus, "web", None).await).await;
    let local = bus.named("local").await;
    let waiting = web.start("inbox", json!({"wait": 120})).await;
    let old = bus.busd_pid().expect("busd runs");
    assert_eq!(
        admin(bus.db()).call(Request::Restart).await,
        Ok(Response::Done)
    );

    let sent = local
        .ok("send", json!({"to": "web", "content": "after"}))
        .await;
    let page = Session::finish(waiting).await;
    assert_eq!(page["messages"][0]["id"], sent["id"], "{page}");
    assert_ne!(bus.busd_pid(), Some(old), "a new busd serves");
    // The token is still accepted (the front's own connection came back too), and the
    // session still holds its name.
    assert_eq!(web.ok("whoami", json!({})).await, json!({"name": "web"}));
    let another = front.session(&token(&bus, "other", None).await).await;
    assert_eq!(
        another.ok("whoami", json!({})).await,
        json!({"name": "other"})
    );
}

#[tokio::test]
async fn bus_http_and_bus_host_port_choose_the_address() {
    let bus = TempBus::empty();
    for (args, env) in [
        (vec![], vec![("BUS_HTTP", "127.0.0.1:0")]),
        (
            vec!["--http"],
            vec![("BUS_HOST", "127.0.0.1"), ("BUS_PORT", "0")],
        ),
    ] {
        let mut cmd = tokio::process::Command::new(shim_exe());
        cmd.args(&args)
            .env("BUS_DB", bus.db())
            .env("BUS_DAEMON", busd_exe())
            .env_remove("BUS_HTTP")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let line = tokio::time::timeout(PATIENCE, async {
            loop {
                let line = lines
                    .next_line()
                    .await
                    .unwrap()
                    .expect("serves before exiting");
                if line.contains("serving MCP at") {
                    return line;
                }
            }
        })
        .await
        .expect("serves in time");
        assert!(
            line.contains("http://127.0.0.1:"),
            "{args:?} {env:?}: {line}"
        );
    }
}
