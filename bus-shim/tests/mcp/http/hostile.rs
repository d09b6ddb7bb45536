//! Bad input and transport security: refused while every other session keeps working.

use serde_json::json;

use super::*;

#[tokio::test]
async fn garbage_oversize_and_unknown_sessions_are_refused_while_others_carry_on() {
    let bus = Bus::new();
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
    let (status, _) = front
        .http
        .post(&front.url)
        .bearer_auth(&secret)
        .header("origin", "http://evil.example")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize())
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 403, "a foreign Origin is refused");

    alpha
        .ok("send", json!({"to": "all", "content": "still working"}))
        .await;
}

#[tokio::test]
async fn sessions_are_bounded() {
    let bus = Bus::new();
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
    let bus = Bus::new();
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
    let bus = Bus::new();
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
