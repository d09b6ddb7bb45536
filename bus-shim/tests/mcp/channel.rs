//! Channels (`BUS_CHANNEL=1`): the shim declares `claude/channel`, offers no revision without
//! `initialize`, and pushes each new message once as `notifications/claude/channel`, taking
//! it from the inbox, only when Claude Code's command line enables the server's channel.

use std::process::Stdio;

use rmcp::model::CustomNotification;
use rmcp::service::NotificationContext;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::common::{PATIENCE, TempBus, busd_exe, shim_exe};

struct Pushes(mpsc::UnboundedSender<CustomNotification>);

impl ClientHandler for Pushes {
    async fn on_custom_notification(
        &self,
        n: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(n);
    }
}

/// A shim for 'alice' with `BUS_CHANNEL=1`, under a stand-in for Claude Code (perl, which
/// runs the shim as its child) whose command line carries `claude_args`, and a Claude Code
/// config whose cached channels flag is `feature`.
async fn channel_shim(
    bus: &TempBus,
    claude_args: &[&str],
) -> (
    rmcp::service::RunningService<RoleClient, Pushes>,
    mpsc::UnboundedReceiver<CustomNotification>,
) {
    channel_shim_with(bus, claude_args, true).await
}

async fn channel_shim_with(
    bus: &TempBus,
    claude_args: &[&str],
    feature: bool,
) -> (
    rmcp::service::RunningService<RoleClient, Pushes>,
    mpsc::UnboundedReceiver<CustomNotification>,
) {
    let (db, busd) = (bus.db(), busd_exe());
    let config = bus.dir.path().join("claude-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join(".claude.json"),
        json!({"cachedGrowthBookFeatures": {"tengu_harbor": feature}}).to_string(),
    )
    .unwrap();
    let mut args = vec![
        "-e".to_owned(),
        "exit(system(@ARGV[$#ARGV]) >> 8)".to_owned(),
        "--".to_owned(),
    ];
    args.extend(claude_args.iter().map(|a| (*a).to_owned()));
    args.push(shim_exe().to_string_lossy().into_owned());
    let cmd = Command::new("perl").configure(|cmd| {
        cmd.args(&args)
            .env("BUS_DB", db)
            .env("BUS_DAEMON", &busd)
            .env("BUS_NAME", "alice")
            .env("BUS_CHANNEL", "1")
            .env("CLAUDECODE", "1")
            .env("CLAUDE_CONFIG_DIR", &config)
            .env_remove("BUS_SOCKET")
            .env_remove("CLAUDE_CODE_SESSION_ID");
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn perl running bus-shim");
    let (tx, rx) = mpsc::unbounded_channel();
    let client = Pushes(tx).serve(transport).await.expect("MCP initialize");
    (client, rx)
}

/// Wait until alice's shim has written her channel mark: from then on every message
/// committed for her is pushed (what was there before is the hooks' to announce).
async fn pushing(bus: &TempBus) {
    let mark = bus.paths.dir().join("channel-alice");
    testkit::files::event(&mark, PATIENCE, "alice's channel mark", |m| {
        m.ends_with("listening\n")
    })
    .await;
}

#[tokio::test]
async fn declares_the_channel_and_an_older_revision() {
    let bus = TempBus::empty();
    let (client, _) = channel_shim(&bus, &["--channels", "server:bus"]).await;
    let info = client.peer_info().expect("initialize result");
    let caps = serde_json::to_value(&info.capabilities).unwrap();
    assert_eq!(caps["experimental"]["claude/channel"], json!({}), "{caps}");
    assert!(
        info.protocol_version.as_str() < "2026-07-28",
        "{}",
        info.protocol_version
    );
}

#[tokio::test]
async fn each_new_message_is_pushed_once_and_left_unread() {
    let bus = TempBus::empty();
    let (alice, mut pushes) = channel_shim(&bus, &["--channels", "server:bus"]).await;
    pushing(&bus).await;
    let bob = bus.named("bob").await;
    let carol = bus.named("carol").await;
    let earlier = carol
        .ok("send", json!({"to": "bob", "content": "hi"}))
        .await;
    let sent = bob
        .ok(
            "send",
            json!({"to": "alice", "content": "ping", "reply_to": earlier["id"]}),
        )
        .await;
    let id = sent["id"].as_i64().unwrap();
    let push = tokio::time::timeout(PATIENCE, pushes.recv())
        .await
        .expect("a push within the safety timeout")
        .expect("a push");
    assert_eq!(push.method, "notifications/claude/channel");
    let params: Value = push.params.clone().unwrap();
    assert_eq!(params["content"], "ping", "{params}");
    assert_eq!(params["meta"]["sender"], "bob", "{params}");
    assert_eq!(params["meta"]["message_id"], id.to_string(), "{params}");
    assert_eq!(
        params["meta"]["reply_to"],
        earlier["id"].as_i64().unwrap().to_string(),
        "{params}"
    );
    // Every meta key is an identifier: Claude Code drops the others.
    for key in params["meta"].as_object().unwrap().keys() {
        assert!(
            key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{key}"
        );
    }
    // A push takes nothing: until Claude Code's prompt hook says it took it, it is unread.
    let params = rmcp::model::CallToolRequestParams::new("inbox")
        .with_arguments(json!({"consume": false}).as_object().unwrap().clone());
    let inbox = alice.call_tool(params).await.unwrap();
    let inbox = inbox.structured_content.unwrap();
    assert_eq!(inbox["messages"][0]["id"], id, "{inbox}");
    assert!(pushes.try_recv().is_err(), "pushed once");
}

#[tokio::test]
async fn without_the_channel_enabled_nothing_is_pushed_or_taken() {
    let bus = TempBus::empty();
    // Claude Code was not told to listen: a push would be dropped, so none is made.
    let (alice, mut pushes) = channel_shim(&bus, &["--channels", "server:other"]).await;
    let bob = bus.named("bob").await;
    bob.ok("send", json!({"to": "alice", "content": "ping"}))
        .await;
    let params = rmcp::model::CallToolRequestParams::new("inbox")
        .with_arguments(json!({}).as_object().unwrap().clone());
    let inbox = alice.call_tool(params).await.unwrap();
    let inbox = inbox.structured_content.unwrap();
    assert_eq!(inbox["messages"][0]["content"], "ping", "{inbox}");
    assert!(pushes.try_recv().is_err(), "nothing was pushed");
}

#[tokio::test]
async fn where_claude_code_may_drop_it_a_push_takes_nothing() {
    let bus = TempBus::empty();
    // The shim cannot see Claude Code's feature flag: it pushes, and the mail stays unread
    // for the Stop hook should Claude Code drop the push.
    let (alice, mut pushes) = channel_shim_with(&bus, &["--channels", "server:bus"], false).await;
    pushing(&bus).await;
    let bob = bus.named("bob").await;
    bob.ok("send", json!({"to": "alice", "content": "ping"}))
        .await;
    tokio::time::timeout(PATIENCE, pushes.recv())
        .await
        .expect("a push within the safety timeout")
        .expect("a push");
    let params = rmcp::model::CallToolRequestParams::new("inbox")
        .with_arguments(json!({}).as_object().unwrap().clone());
    let inbox = alice.call_tool(params).await.unwrap();
    let inbox = inbox.structured_content.unwrap();
    assert_eq!(inbox["messages"][0]["content"], "ping", "{inbox}");
}
