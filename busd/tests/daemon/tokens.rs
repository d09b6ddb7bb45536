//! HTTP tokens in busd: the secret handed out once and kept only as a digest, one token per
//! name, authentication that says nothing of names, revocation at once, kept across restarts.

use proto::{ErrorKind, Request, Response};

use crate::common::*;

async fn create(client: &proto::client::Client, name: &str) -> Result<String, proto::WireError> {
    let request = Request::TokenCreate {
        name: name.into(),
        role: Some("api".into()),
    };
    match call(client, request).await? {
        Response::TokenCreated(created) => Ok(created.token),
        other => panic!("not a created token: {other:?}"),
    }
}

async fn authenticate(
    client: &proto::client::Client,
    token: &str,
) -> Result<Response, proto::WireError> {
    call(
        client,
        Request::Authenticate {
            token: token.into(),
        },
    )
    .await
}

#[tokio::test]
async fn a_token_binds_its_name_and_is_kept_only_as_a_digest() {
    let mut bus = TempBus::start().await;
    let client = bus.connected().await;
    let secret = create(&client, "alpha").await.unwrap();
    match authenticate(&client, &secret).await.unwrap() {
        Response::Authenticated(who) => {
            assert_eq!(who.name, "alpha");
            assert_eq!(who.role.as_deref(), Some("api"));
        }
        other => panic!("{other:?}"),
    }
    let again = create(&client, "alpha").await.unwrap_err();
    assert_eq!(again.kind, ErrorKind::Conflict, "{again}");

    // Unknown and malformed tokens get one and the same refusal.
    let wrong = authenticate(&client, "cbt_0000").await.unwrap_err();
    let empty = authenticate(&client, "").await.unwrap_err();
    assert_eq!(wrong.kind, ErrorKind::Unauthorized);
    assert_eq!(wrong, empty);
    assert!(!wrong.message.contains("alpha"), "{wrong}");

    // Kept across a restart, and never as the secret itself.
    drop(client);
    bus.stop();
    let files: Vec<u8> = ["", "-wal"]
        .iter()
        .flat_map(|suffix| {
            std::fs::read(format!("{}{suffix}", bus.db().display())).unwrap_or_default()
        })
        .collect();
    let hex = secret.trim_start_matches(proto::TOKEN_PREFIX);
    assert!(
        !files.windows(hex.len()).any(|w| w == hex.as_bytes()),
        "the secret is not in the database"
    );
    bus.spawn(&[]).await;
    let client = bus.connected().await;
    assert!(matches!(
        authenticate(&client, &secret).await,
        Ok(Response::Authenticated(_))
    ));

    // Revoked: refused from the next request on.
    let revoked = call(
        &client,
        Request::TokenRevoke {
            name: "alpha".into(),
        },
    )
    .await;
    assert!(matches!(revoked, Ok(Response::TokenRevoked(r)) if r.revoked));
    let refused = authenticate(&client, &secret).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Unauthorized);
    let list = call(&client, Request::TokenList).await.unwrap();
    assert!(matches!(list, Response::Tokens(l) if l.tokens.is_empty()));
}
