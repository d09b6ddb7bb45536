//! Every tool a session calls has a `bus` command a person can run: register (role and owned
//! globs), whoami, message-status, claim and release.

use serde_json::json;

use crate::common::Bus;

#[tokio::test]
async fn register_sets_the_role_and_owned_globs_agents_show() {
    let bus = Bus::start().await;
    let out = bus
        .bus(&[
            "register",
            "api",
            "--role",
            "backend",
            "--owns",
            "src/api/**",
            "--owns",
            "docs/*.md",
        ])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("registered api: role 'backend', owns src/api/**, docs/*.md"),
        "{out:?}"
    );
    let agents = bus.bus(&["agents", "--json"]).run().await.json();
    let a = &agents["agents"][0];
    assert_eq!(
        (&a["name"], &a["role"], &a["owns"]),
        (
            &json!("api"),
            &json!("backend"),
            &json!(["src/api/**", "docs/*.md"])
        )
    );
    // Leaving --role out keeps it; --no-owns clears the globs.
    let out = bus
        .bus(&["register", "api", "--no-owns", "--json"])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    assert_eq!((&r["role"], &r["owns"]), (&json!("backend"), &json!([])));

    // A name a connected session holds is refused, as the tool refuses it.
    let _web = bus.named("web", "sess-web", "frontend", &[]).await;
    let out = bus.bus(&["register", "web", "--role", "x"]).run().await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("held by a connected session"),
        "{out:?}"
    );
}

#[tokio::test]
async fn claim_release_and_message_status_act_as_the_resolved_name() {
    let bus = Bus::start().await;
    let out = bus
        .bus(&[
            "claim",
            "src/api/auth.rs",
            "--ttl",
            "60",
            "--as",
            "api",
            "--json",
        ])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["owner"], "api");
    let claims = bus.bus(&["claims", "--json"]).run().await.json();
    assert_eq!(claims["claims"][0]["path"], "src/api/auth.rs");

    let refused = bus
        .bus(&["claim", "src/api/auth.rs", "--as", "web"])
        .run()
        .await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("claimed by 'api'"), "{refused:?}");

    let out = bus
        .bus(&["release", "src/api/auth.rs", "--as", "api"])
        .run()
        .await;
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, "api released src/api/auth.rs")
    );
    let out = bus
        .bus(&["release", "src/api/auth.rs", "--as", "api", "--json"])
        .run()
        .await;
    assert_eq!(
        out.json(),
        json!({"path": "src/api/auth.rs", "released": false})
    );

    bus.bus(&["send", "web", "hi", "--as", "api"]).run().await;
    bus.bus(&["inbox", "--as", "web"]).run().await;
    let status = bus
        .bus(&["message-status", "1", "--json"])
        .run()
        .await
        .json();
    assert_eq!(status["readers"][0]["recipient"], "web");
    assert_eq!(status["unread"], json!([]));
    let text = bus.bus(&["message-status", "1"]).run().await;
    assert!(text.stdout.starts_with("#1 from api to web"), "{text:?}");

    let me = bus.bus(&["whoami", "--as", "api", "--json"]).run().await;
    assert_eq!(me.json(), json!({"name": "api"}));
    let nobody = bus.bus(&["whoami"]).run().await;
    assert!(nobody.stdout.starts_with("no name"), "{nobody:?}");
}
