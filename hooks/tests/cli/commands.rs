//! The command line for people and scripts: JSON output, `--as` resolution, daemon lifecycle,
//! and `bus tail` following messages as they commit.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{Bus, PATIENCE};

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn send_and_inbox_print_the_tool_results_as_json() {
    let bus = Bus::start().await;
    let sent = bus
        .bus(&["--json", "send", "bob", "hi", "--as", "alice"])
        .run()
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.json(), json!({"id": 1, "to": "bob"}));

    let reply = bus
        .bus(&[
            "send",
            "alice",
            "-",
            "--as",
            "bob",
            "--reply-to",
            "1",
            "--json",
        ])
        .stdin("from stdin\n")
        .run()
        .await;
    assert_eq!(reply.json()["id"], 2, "{reply:?}");

    // --json after the subcommand, peeking first: nothing is consumed.
    let peek = bus
        .bus(&["inbox", "--as", "bob", "--peek", "--json"])
        .run()
        .await;
    let page = peek.json();
    assert_eq!(keys(&page), ["messages", "pending_count"]);
    assert_eq!(page["pending_count"], 1);
    let m = &page["messages"][0];
    assert_eq!(keys(m), ["content", "from", "id", "reply_to", "to", "ts"]);
    assert_eq!(
        (&m["from"], &m["to"], &m["content"], &m["reply_to"]),
        (&json!("alice"), &json!("bob"), &json!("hi"), &Value::Null)
    );

    let read = bus.bus(&["--as", "bob", "--json", "inbox"]).run().await;
    assert_eq!(read.json()["messages"][0]["id"], 1);
    assert_eq!(read.json()["pending_count"], 0);
    let again = bus.bus(&["inbox", "--as", "bob", "--json"]).run().await;
    assert_eq!(again.json(), json!({"messages": [], "pending_count": 0}));

    let alice = bus.bus(&["inbox", "--as", "alice"]).run().await;
    assert!(alice.stdout.contains("#2 from bob to alice"), "{alice:?}");
    assert!(
        alice.stdout.contains("(reply to #1)\n  from stdin"),
        "{alice:?}"
    );
}

#[tokio::test]
async fn agents_state_claims_and_status_as_json() {
    let bus = Bus::start().await;
    let api = bus
        .named("api", "sess-api", "backend", &["src/api/**"])
        .await;
    api.ok("claim", json!({"path": "src/api/auth.rs"})).await;

    let agents = bus.bus(&["agents", "--json"]).run().await.json();
    let a = &agents["agents"][0];
    assert_eq!(
        keys(a),
        [
            "connected",
            "host",
            "last_seen",
            "name",
            "overlaps",
            "owns",
            "role",
            "seconds_ago",
            "status",
            "waiting"
        ]
    );
    assert_eq!(
        (&a["name"], &a["status"]),
        (&json!("api"), &json!("online"))
    );
    // A session connected here is on this machine.
    assert_eq!(a["host"], json!(proto::host::machine_name()), "{a}");

    let set = bus
        .bus(&["state", "set", "plan", "v1", "--as", "api", "--json"])
        .run()
        .await;
    assert_eq!(set.json(), json!({"key": "plan", "version": 1}));
    let cas = bus
        .bus(&[
            "state",
            "set",
            "plan",
            "v2",
            "--expected-version",
            "1",
            "--json",
        ])
        .run()
        .await;
    assert_eq!(cas.json()["version"], 2, "{cas:?}");
    let stale = bus
        .bus(&["state", "set", "plan", "v3", "--expected-version", "1"])
        .run()
        .await;
    assert_eq!(stale.code, 1);
    assert!(
        stale
            .stderr
            .contains("stale write: expected_version 1 != current 2"),
        "{stale:?}"
    );

    let got = bus
        .bus(&["state", "get", "plan", "--json"])
        .run()
        .await
        .json();
    let entry = &got["state"][0];
    assert_eq!(
        keys(entry),
        ["key", "updated_at", "updated_by", "value", "version"]
    );
    assert_eq!(
        (&entry["value"], &entry["updated_by"]),
        (&json!("v2"), &json!(""))
    );
    let list = bus.bus(&["state", "list", "--json"]).run().await.json();
    assert_eq!(
        keys(&list["keys"][0]),
        ["key", "updated_at", "updated_by", "version"]
    );

    let claims = bus.bus(&["claims", "--json"]).run().await.json();
    let c = &claims["claims"][0];
    assert_eq!(keys(c), ["expires_at", "owner", "path", "ttl_remaining"]);
    assert_eq!(
        (&c["path"], &c["owner"]),
        (&json!("src/api/auth.rs"), &json!("api"))
    );

    let status = bus.bus(&["status", "--json"]).run().await.json();
    assert_eq!(status["db_path"], json!(bus.paths.db.display().to_string()));
    assert_eq!(status["version"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(status["sessions"], 1);
    let human = bus.bus(&["status"]).run().await;
    assert!(human.stdout.contains("running, pid"), "{human:?}");
}

#[tokio::test]
async fn as_defaults_to_bus_name_then_to_the_sessions_registered_name() {
    let bus = Bus::start().await;
    let _web = bus.named("web", "sess-web", "frontend", &[]).await;
    let _api = bus.named("api", "sess-api", "backend", &[]).await;

    let sent = bus
        .bus(&["send", "api", "from the session's name"])
        .env("CLAUDE_CODE_SESSION_ID", "sess-web")
        .run()
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let named = bus
        .bus(&["send", "api", "from BUS_NAME"])
        .env("CLAUDE_CODE_SESSION_ID", "sess-web")
        .env("BUS_NAME", "docs")
        .run()
        .await;
    assert_eq!(named.code, 0, "{named:?}");

    let page = bus
        .bus(&["inbox", "--json"])
        .env("CLAUDE_CODE_SESSION_ID", "sess-api")
        .run()
        .await
        .json();
    let from: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["web", "docs"]);

    let nameless = bus.bus(&["send", "api", "who am i"]).run().await;
    assert_eq!(nameless.code, 1);
    assert!(
        nameless
            .stderr
            .contains("no name to act as: pass --as NAME"),
        "{nameless:?}"
    );
}

#[tokio::test]
async fn commands_start_the_daemon_and_stop_stops_it() {
    let bus = Bus::empty();
    let not_running = bus.bus(&["stop"]).run().await;
    assert_eq!(
        (not_running.code, not_running.stdout.trim()),
        (0, "busd is not running")
    );
    assert!(!bus.daemon_running(), "stop must not start busd");

    let sent = bus.bus(&["send", "b", "hello", "--as", "a"]).run().await;
    assert_eq!(sent.code, 0, "{sent:?}");
    assert!(bus.daemon_running(), "send starts busd");
    let pid = bus.bus(&["status", "--json"]).run().await.json()["pid"].clone();

    let stopped = bus.bus(&["stop", "--json"]).run().await;
    assert_eq!(stopped.json(), json!({"stopped": true, "pid": pid}));
    assert!(!bus.daemon_running(), "stop returns once busd has exited");

    // `bus status` answers "is busd running?" without starting one (issue 10, item 13).
    let status = bus.bus(&["status"]).run().await;
    assert_eq!(status.code, 1, "status does not start busd: {status:?}");
    assert!(status.stdout.contains("not running"), "{status:?}");
    assert!(!bus.daemon_running(), "status must not start busd");
    // The message survived the restart (inbox starts busd again).
    let page = bus
        .bus(&["inbox", "--as", "b", "--json"])
        .run()
        .await
        .json();
    assert_eq!(page["messages"][0]["content"], "hello");
}

#[tokio::test]
async fn tail_follows_every_message_as_it_commits() {
    let bus = Bus::start().await;
    bus.bus(&["send", "b", "first", "--as", "a"]).run().await;
    let mut tail = bus.bus(&["tail", "--after", "0", "--json"]).start().await;
    let mut lines = BufReader::new(tail.child.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("tail printed within the safety timeout")
            .expect("read tail")
            .expect("tail is still running");
        serde_json::from_str(&line).expect("one JSON message per line")
    };
    assert_eq!(next().await["content"], "first");
    // Sent while tail waits in busd: it prints it as it commits.
    bus.bus(&["send", "all", "second", "--as", "c"]).run().await;
    let m = next().await;
    assert_eq!(
        (&m["id"], &m["from"], &m["to"]),
        (&json!(2), &json!("c"), &json!("all"))
    );
    tail.child.start_kill().unwrap();
}

#[tokio::test]
async fn tail_ends_when_busd_stops_and_carries_on_when_it_restarts() {
    let bus = Bus::start().await;
    bus.bus(&["send", "b", "first", "--as", "a"]).run().await;
    let mut tail = bus.bus(&["tail", "--after", "0"]).start().await;
    let mut lines = BufReader::new(tail.child.stdout.take().unwrap()).lines();
    let mut printed = async |text: &str| {
        while !tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("tail printed within the safety timeout")
            .expect("read tail")
            .expect("tail is still running")
            .contains(text)
        {}
    };
    printed("first").await;
    assert_eq!(bus.bus(&["restart"]).run().await.code, 0);
    bus.bus(&["send", "b", "after the restart", "--as", "a"])
        .run()
        .await;
    printed("after the restart").await;
    assert_eq!(bus.bus(&["stop"]).run().await.code, 0);
    let out = tail.finish().await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("busd stopped"), "{out:?}");
}
