//! The browser view at `/` of the HTTP front, in a real headless Chromium: refused without a
//! token, opened with `/?token=`, which leaves the address for an HttpOnly cookie; mail that
//! a session sends and a claim it takes appear live, without a reload; a screenshot is taken.

use serde_json::json;

use super::chromium::Chromium;
use super::{Front, http_client, token};
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_needs_a_token_and_shows_mail_and_claims_live() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let viewer = token(&bus, "viewer", None).await;
    let web_token = token(&bus, "web", Some("frontend")).await;
    let api_token = token(&bus, "api", Some("backend")).await;
    let web = front.session(&web_token).await;
    let api = front.session(&api_token).await;
    web.ok("register", json!({"name": "web", "owns": ["src/ui/**"]}))
        .await;
    api.ok(
        "register",
        json!({"name": "api", "owns": ["src/api/**", "src/ui/api.ts"]}),
    )
    .await;
    web.ok(
        "send",
        json!({"to": "api", "content": "is the schema frozen?"}),
    )
    .await;
    api.ok(
        "send",
        json!({"to": "web", "content": "yes: v2", "reply_to": 1}),
    )
    .await;
    api.ok("claim", json!({"path": "src/api/schema.rs", "ttl": 900}))
        .await;
    api.ok("set_state", json!({"key": "schema", "value": "v2"}))
        .await;
    let base = front.url.trim_end_matches("/mcp").to_owned();

    let Some(mut browser) = Chromium::start(1280, 1000) else {
        return;
    };
    // Refused without a token, and with a wrong one.
    browser.open(&format!("{base}/"));
    let text = browser.eval("document.body.innerText");
    assert!(text.as_str().unwrap().contains("unauthorized"), "{text}");
    browser.open(&format!("{base}/?token=cbt_wrong"));
    assert!(
        browser
            .eval("document.body.innerText")
            .as_str()
            .unwrap()
            .contains("unauthorized")
    );
    let http = http_client(None);
    let events = http.get(format!("{base}/events")).send().await.unwrap();
    assert_eq!(events.status(), 401, "the stream needs a token too");

    // With a token: the address is cleaned, the cookie is out of the page's reach.
    browser.open(&format!("{base}/?token={viewer}"));
    assert!(browser.until("document.getElementById('live').textContent === 'live'"));
    assert_eq!(browser.eval("location.search"), json!(""));
    assert_eq!(browser.eval("document.cookie"), json!(""), "HttpOnly");
    assert!(browser.until(
        "document.getElementById('messages').textContent.includes('is the schema frozen?')"
    ));
    assert!(browser.until("document.getElementById('agents').textContent.includes('backend')"));
    assert!(
        browser
            .until("document.getElementById('claims').textContent.includes('src/api/schema.rs')")
    );
    assert!(browser.until("document.getElementById('state').textContent.includes('schema')"));
    let reply_indent =
        browser.eval("document.querySelector('#messages li[data-id=\"2\"]').style.paddingLeft");
    assert_ne!(
        reply_indent,
        json!("0em"),
        "a reply is indented under its message"
    );
    assert!(browser.until("document.querySelectorAll('#traffic line.msg').length >= 2"));

    // Live: what sessions do now appears without a reload.
    let marker = browser.eval("window.marker = Math.random(); window.marker");
    web.ok(
        "send",
        json!({"to": "all", "content": "deploying the web build now"}),
    )
    .await;
    assert!(
        browser.until("document.getElementById('messages').textContent.includes('deploying the web build now')"),
        "the new message shows live"
    );
    assert!(browser.until("document.querySelectorAll('#traffic line.bcast').length >= 1"));
    web.ok("claim", json!({"path": "src/ui/app.tsx", "ttl": 600}))
        .await;
    assert!(
        browser.until("document.getElementById('claims').textContent.includes('src/ui/app.tsx')")
    );
    assert!(browser.until("document.querySelectorAll('#timeline rect').length >= 2"));
    assert_eq!(browser.eval("window.marker"), marker, "no reload happened");
    // The overlap of api's ui/api.ts with web's ui/** is highlighted.
    assert!(browser.until("document.querySelectorAll('#agents tr.overlap').length >= 2"));

    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bus-view.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot of the browser view: {}", path.display());

    // Read-only: nothing but GET is served.
    let post = http
        .post(format!("{base}/events"))
        .header("authorization", format!("Bearer {viewer}"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}
