//! `bus` over `BUS_URL`: the real `bus-shim --http` front (TLS with a certificate made here)
//! on loopback, and `bus` commands and hooks given only the URL, a token and the CA file. Their
//! local bus is a folder with no busd and no way to start one, so nothing reaches it.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::common::{Bus, Cmd, PATIENCE, hook_command, hook_input, sibling};

/// A `bus-shim --http` on `bus` over TLS; killed on drop.
struct Front {
    url: String,
    ca: PathBuf,
    _child: Child,
}

impl Front {
    async fn start(bus: &Bus) -> Front {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = bus.dir.path();
        let (ca, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        std::fs::write(&key, cert.signing_key.serialize_pem()).unwrap();
        let mut child = tokio::process::Command::new(sibling("bus-shim"))
            .args(["--http", "127.0.0.1:0", "--allow-host", "localhost"])
            .arg("--tls-cert")
            .arg(&ca)
            .arg("--tls-key")
            .arg(&key)
            .env("BUS_DB", &bus.paths.db)
            .env("BUS_DAEMON", sibling("busd"))
            .env("BUS_LOG", "info")
            .env_remove("BUS_NAME")
            .env_remove("BUS_SOCKET")
            .env_remove("BUS_HTTP")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn bus-shim --http");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.expect("read stderr") {
                if let Some(url) = line.split("serving MCP at ").nth(1) {
                    return url.trim().replace("127.0.0.1", "localhost");
                }
            }
            panic!("bus-shim --http exited before serving")
        })
        .await
        .expect("bus-shim --http serves in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Front {
            url,
            ca,
            _child: child,
        }
    }
}

/// An MCP session over HTTP with `token`, as Claude Code opens one: it holds the token's name.
async fn holder(front: &Front, token: &str) -> RunningService<RoleClient, ()> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&front.ca).unwrap();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap();
    let config =
        StreamableHttpClientTransportConfig::with_uri(front.url.as_str()).auth_header(token);
    let session =
        ().serve(StreamableHttpClientTransport::with_client(http, config))
            .await
            .expect("an HTTP MCP session");
    let who = session
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    assert_eq!(who.structured_content, Some(json!({"name": "alpha"})));
    session
}

/// A new token for `name`, made with `bus token create` on the bus's machine.
async fn token(bus: &Bus, name: &str) -> String {
    let out = bus.bus(&["--json", "token", "create", name]).run().await;
    assert_eq!(out.code, 0, "{out:?}");
    out.json()["token"].as_str().unwrap().to_owned()
}

/// `cmd` pointed at the front with `token`, its local bus out of reach.
fn remote(cmd: Cmd, front: &Front, token: &str) -> Cmd {
    cmd.env("BUS_URL", &front.url)
        .env("BUS_TOKEN", token)
        .env("BUS_CA", &front.ca)
        .env("BUS_DB", "/nonexistent/claude-bus/bus.db")
        .env("BUS_DAEMON", "/nonexistent/busd")
}

#[tokio::test]
async fn send_inbox_agents_state_and_status_through_bus_url() {
    let bus = Bus::start().await;
    let front = Front::start(&bus).await;
    let (alpha, beta) = (token(&bus, "alpha").await, token(&bus, "beta").await);
    let _bob = bus.named("bob", "sess-bob", "frontend", &[]).await;

    let sent = remote(bus.bus(&["send", "beta", "over https"]), &front, &alpha)
        .run()
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    assert!(sent.stdout.starts_with("sent #"), "{sent:?}");
    assert!(sent.stdout.contains(" to beta"), "{sent:?}");

    let inbox = remote(bus.bus(&["--json", "inbox"]), &front, &beta)
        .run()
        .await;
    assert_eq!(inbox.code, 0, "{inbox:?}");
    let page = inbox.json();
    assert_eq!(page["messages"][0]["from"], "alpha", "{page}");
    assert_eq!(page["messages"][0]["content"], "over https", "{page}");

    let agents = remote(bus.bus(&["--json", "agents", "--all"]), &front, &alpha)
        .run()
        .await;
    assert_eq!(agents.code, 0, "{agents:?}");
    let names: Vec<String> = agents.json()["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"bob".to_owned()), "{names:?}");

    let set = remote(bus.bus(&["state", "set", "build", "green"]), &front, &alpha)
        .run()
        .await;
    assert_eq!(set.code, 0, "{set:?}");
    let got = remote(bus.bus(&["--json", "state", "get", "build"]), &front, &beta)
        .run()
        .await;
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(got.json()["state"][0]["value"], "green");
    assert_eq!(got.json()["state"][0]["updated_by"], "alpha", "{got:?}");

    let status = remote(bus.bus(&["status"]), &front, &alpha).run().await;
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("remote"), "{status:?}");
    assert!(status.stdout.contains(&front.url), "{status:?}");
    assert!(status.stdout.contains("alpha"), "{status:?}");
    let status = remote(bus.bus(&["--json", "status"]), &front, &alpha)
        .run()
        .await;
    assert_eq!(
        status.json(),
        json!({"remote": true, "url": front.url, "running": true, "name": "alpha"})
    );
}

#[tokio::test]
async fn another_name_than_the_tokens_is_refused() {
    let bus = Bus::start().await;
    let front = Front::start(&bus).await;
    let alpha = token(&bus, "alpha").await;
    let out = remote(
        bus.bus(&["--as", "beta", "send", "gamma", "x"]),
        &front,
        &alpha,
    )
    .run()
    .await;
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("binds the name 'alpha'") && out.stderr.contains("'beta'"),
        "{out:?}"
    );
    let same = remote(bus.bus(&["--as", "alpha", "whoami"]), &front, &alpha)
        .run()
        .await;
    assert_eq!(same.code, 0, "{same:?}");
    assert!(same.stdout.contains("alpha"), "{same:?}");
}

#[tokio::test]
async fn a_stop_hook_over_bus_url_wakes_on_a_send_from_a_stdio_session() {
    let bus = Bus::start().await;
    let front = Front::start(&bus).await;
    let alpha = token(&bus, "alpha").await;
    // The Claude Code session holds the name over HTTP; its hook acts as it beside it.
    let _claude = holder(&front, &alpha).await;
    let bob = bus.named("bob", "sess-bob", "frontend", &[]).await;

    let hook = remote(
        bus.sh(&format!("{} --ready-fd 3", hook_command("Stop"))),
        &front,
        &alpha,
    )
    .stdin(hook_input("Stop", "sess-remote"))
    .start_ready()
    .await;
    let sent = bob
        .ok("send", json!({"to": "alpha", "content": "wake up, remote"}))
        .await;
    let out = hook.finish().await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("1 new message for 'alpha'"), "{out:?}");
    assert!(out.stderr.contains("wake up, remote"), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("message {} from 'bob'", sent["id"])),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_wrong_or_revoked_token_is_a_clear_error_and_hooks_exit_0() {
    let bus = Bus::start().await;
    let front = Front::start(&bus).await;
    let alpha = token(&bus, "alpha").await;
    let revoked = bus.bus(&["token", "revoke", "alpha"]).run().await;
    assert_eq!(revoked.code, 0, "{revoked:?}");

    for token in [alpha.as_str(), "cbt_not-a-token"] {
        let out = remote(bus.bus(&["inbox"]), &front, token).run().await;
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stderr.contains("refused BUS_TOKEN"), "{out:?}");

        let hook = remote(bus.sh(&hook_command("Stop")), &front, token)
            .stdin(hook_input("Stop", "sess-remote"))
            .run()
            .await;
        assert_eq!(hook.code, 0, "{hook:?}");
        assert!(hook.stderr.contains("refused BUS_TOKEN"), "{hook:?}");
    }
}
