//! Bad input and transport security: refused while every other session keeps working.

use serde_json::json;

use super::*;

#[tokio::test]
async fn garbage_oversize_and_unknown_sessions_are_refused_while_others_carry_on() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let secret = token(&bus, "alpha", None).await;
    let alpha = front.session(&secret).await;
    alpha.ok("whoami", json!({})).await;

    let (status, _) = front.post(Some(&secret), None, "{not json").await;
    assert!((400..500).contains(&status), "garbage JSON: {status}");
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(5 * 1024 * 1024));
    assert_eq!(front.post(Some(&secret), None, big).await.0, 413);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    assert_eq!(
        front
            .post(Some(&secret), Some("no-such-session"), list)
            .await
            .0,
        404
    );
    let with_origin = |origin: &str| {
        front
            .http
            .post(&front.url)
            .bearer_auth(&secret)
            .header("origin", origin)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize())
            .send()
    };
    let foreign = with_origin("http://evil.example").await.unwrap();
    assert_eq!(
        foreign.status().as_u16(),
        403,
        "a foreign Origin is refused"
    );
    let port = front
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/mcp");
    let local = with_origin(&format!("http://localhost:{port}"))
        .await
        .unwrap();
    assert_eq!(
        local.status().as_u16(),
        200,
        "a page of this machine is served"
    );

    alpha
        .ok("send", json!({"to": "all", "content": "still working"}))
        .await;
}

#[tokio::test]
async fn sessions_are_bounded() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &["--max-sessions", "2"]).await;
    let tokens = [
        token(&bus, "a", None).await,
        token(&bus, "b", None).await,
        token(&bus, "c", None).await,
    ];
    let a = front.session(&tokens[0]).await;
    let _b = front.session(&tokens[1]).await;
    assert_eq!(
        front.post(Some(&tokens[2]), None, initialize()).await.0,
        503
    );
    a.ok("whoami", json!({})).await;
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused() {
    let bus = TempBus::empty();
    let out = std::process::Command::new(shim_exe())
        .args(["--http", "0.0.0.0:0"])
        .env("BUS_DB", bus.db())
        .env("BUS_DAEMON", busd_exe())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--insecure-http"), "{stderr}");
}

#[tokio::test]
async fn tls_with_a_certificate_made_here() {
    let bus = TempBus::empty();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    let (cert_file, key_file) = (
        bus.dir.path().join("cert.pem"),
        bus.dir.path().join("key.pem"),
    );
    std::fs::write(&cert_file, &cert_pem).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let args = [
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        key_file.to_str().unwrap(),
        "--allow-host",
        "localhost",
    ];
    let front = Front::start_with_roots(&bus, &args, Some(cert_pem.as_bytes())).await;
    assert!(front.url.starts_with("https://localhost:"), "{}", front.url);
    let alpha = front.session(&token(&bus, "alpha", None).await).await;
    assert_eq!(
        alpha.ok("whoami", json!({})).await,
        json!({"name": "alpha"})
    );
}

#[tokio::test]
async fn an_abandoned_session_is_closed_and_its_name_freed() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &["--idle-timeout", "2"]).await;
    let secret = token(&bus, "alpha", None).await;
    let abandoned = front.session(&secret).await;
    abandoned.ok("whoami", json!({})).await;
    let local = bus.session().await;
    assert!(
        local
            .err("register", json!({"name": "alpha"}))
            .await
            .contains("alpha")
    );
    // The client goes silent without closing its session. Nothing announces the idle
    // deadline, so the test waits past it (2 s) once.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    local.ok("register", json!({"name": "alpha"})).await;
    drop(abandoned);
}

#[tokio::test]
async fn hundreds_of_waiting_sessions_are_all_woken_and_lose_nothing() {
    const SESSIONS: usize = 200;
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let secret = token(&bus, &format!("s{i}"), None).await;
        sessions.push(front.session(&secret).await);
    }
    let waits = futures::future::join_all(
        sessions
            .iter()
            .map(|s| s.start("inbox", json!({"wait": 3600}))),
    )
    .await;
    let local = bus.named("local").await;
    let sent = local
        .ok("send", json!({"to": "all", "content": "wake"}))
        .await;
    let pages = futures::future::join_all(waits.into_iter().map(Session::finish)).await;
    for page in &pages {
        assert_eq!(page["messages"][0]["id"], sent["id"], "{page}");
    }
    assert_eq!(pages.len(), SESSIONS);
}

#[tokio::test]
async fn a_stalled_client_is_cut_off_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let addr = front
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let alpha = front.session(&token(&bus, "alpha", None).await).await;
    assert_eq!(
        alpha.ok("whoami", json!({})).await,
        json!({"name": "alpha"})
    );
    // The stalled request never finishes its headers: the front closes it (after 10 s).
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stalled.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the stalled connection is closed by the front"
    );
    alpha.ok("whoami", json!({})).await;
}

#[tokio::test]
async fn an_oversize_upload_reads_its_refusal() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let secret = token(&bus, "alpha", None).await;
    // Repeated: a refusal sent before the upload ends would often reach the client as a reset.
    for _ in 0..5 {
        let big = vec![b'a'; 5 * 1024 * 1024];
        assert_eq!(front.post(Some(&secret), None, big).await.0, 413);
        assert_eq!(
            front.post(None, None, vec![b' '; 6 * 1024 * 1024]).await.0,
            413
        );
    }
}
