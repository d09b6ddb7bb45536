//! `bus token create|list|revoke`: the secret printed once, never listed, revoked by name.

use serde_json::json;

use crate::common::Bus;

#[tokio::test]
async fn a_token_is_shown_once_listed_without_its_secret_and_revoked() {
    let bus = Bus::start().await;
    let created = bus
        .bus(&["--json", "token", "create", "alpha", "--role", "api"])
        .run()
        .await;
    assert_eq!(created.code, 0, "{created:?}");
    let created = created.json();
    assert_eq!(created["name"], "alpha");
    let secret = created["token"].as_str().expect("the secret").to_owned();
    assert!(secret.starts_with("cbt_"), "{secret}");

    let again = bus.bus(&["token", "create", "alpha"]).run().await;
    assert_ne!(
        again.code, 0,
        "a second token for one name is refused: {again:?}"
    );

    let list = bus.bus(&["--json", "token", "list"]).run().await;
    assert_eq!(list.code, 0, "{list:?}");
    let list = list.json();
    assert!(
        !list.to_string().contains(&secret),
        "never the secret: {list}"
    );
    assert_eq!(list["tokens"][0]["name"], "alpha");
    assert_eq!(list["tokens"][0]["role"], "api");
    assert_eq!(list["tokens"][0]["last_used"], json!(null));

    let revoked = bus.bus(&["--json", "token", "revoke", "alpha"]).run().await;
    assert_eq!(revoked.json(), json!({"name": "alpha", "revoked": true}));
    let list = bus.bus(&["--json", "token", "list"]).run().await;
    assert_eq!(list.json(), json!({"tokens": []}));
    let missing = bus.bus(&["token", "revoke", "alpha"]).run().await;
    assert_eq!(missing.code, 1, "{missing:?}");
}
