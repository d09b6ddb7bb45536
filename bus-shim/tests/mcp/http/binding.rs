//! Tokens bind identity: the token's name only, one session at a time, 401 without a valid one.

use serde_json::json;

use super::*;

#[tokio::test]
async fn a_session_cannot_take_another_name() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let alpha = front.session(&token(&bus, "alpha", None).await).await;
    let why = alpha.err("register", json!({"name": "beta"})).await;
    assert!(why.contains("binds the name 'alpha'"), "{why}");
    assert_eq!(
        alpha.ok("whoami", json!({})).await,
        json!({"name": "alpha"})
    );
}

#[tokio::test]
async fn an_acting_session_works_beside_the_one_holding_the_name() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let secret = token(&bus, "alpha", None).await;
    let holder = front.session(&secret).await;
    holder.ok("whoami", json!({})).await;
    let acting = front.acting_session(&secret).await;
    assert_eq!(
        acting.ok("whoami", json!({})).await,
        json!({"name": "alpha"})
    );
    let beta = front.session(&token(&bus, "beta", None).await).await;
    let sent = acting
        .ok(
            "send",
            json!({"to": "beta", "content": "from alpha's hook"}),
        )
        .await;
    let why = acting.err("register", json!({"name": "beta"})).await;
    assert!(why.contains("binds the name 'alpha'"), "{why}");
    let page = beta.ok("inbox", json!({})).await;
    assert_eq!(page["messages"][0]["id"], sent["id"], "{page}");
    assert_eq!(page["messages"][0]["from"], "alpha", "{page}");
    // Acting holds nothing: the holder's name is untouched when the acting session ends.
    acting.close().await;
    holder
        .ok("send", json!({"to": "all", "content": "still here"}))
        .await;
}

#[tokio::test]
async fn a_second_session_with_a_token_in_use_is_refused_as_for_stdio() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let secret = token(&bus, "alpha", None).await;
    let first = front.session(&secret).await;
    first.ok("whoami", json!({})).await;
    let second = front.session(&secret).await;
    let why = second
        .err("send", json!({"to": "all", "content": "x"}))
        .await;
    assert!(why.contains("'alpha' could not be registered"), "{why}");
    let why = second.err("register", json!({"name": "alpha"})).await;
    assert!(why.contains("alpha"), "{why}");
    assert_eq!(second.ok("whoami", json!({})).await, json!({"name": null}));
    // The first session is untouched.
    first
        .ok("send", json!({"to": "all", "content": "still here"}))
        .await;
}

#[tokio::test]
async fn no_wrong_or_revoked_token_gets_401() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let secret = token(&bus, "alpha", None).await;
    assert_eq!(front.post(None, None, initialize()).await.0, 401);
    let (status, body) = front
        .post(Some("cbt_not-a-token"), None, initialize())
        .await;
    assert_eq!(status, 401);
    assert!(!body.contains("alpha"), "says nothing of names: {body}");
    assert!(front.try_session("cbt_wrong").await.is_err());

    let session = front.session(&secret).await;
    session.ok("whoami", json!({})).await;
    let revoked = admin(bus.db())
        .call(Request::TokenRevoke {
            name: "alpha".into(),
        })
        .await
        .unwrap();
    assert!(matches!(revoked, Response::TokenRevoked(r) if r.revoked));
    assert_eq!(front.post(Some(&secret), None, initialize()).await.0, 401);
    let call = session
        .client
        .call_tool(rmcp::model::CallToolRequestParams::new("whoami"))
        .await;
    assert!(
        call.is_err(),
        "a revoked token's session is refused: {call:?}"
    );
}

#[tokio::test]
async fn a_session_id_is_only_good_with_its_own_token() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let (a, b) = (token(&bus, "a", None).await, token(&bus, "b", None).await);
    let response = front
        .http
        .post(&front.url)
        .bearer_auth(&a)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    assert_eq!(front.post(Some(&b), Some(&id), list).await.0, 404);
}

#[tokio::test]
async fn a_token_in_use_shows_when_it_was_last_used() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let secret = token(&bus, "alpha", None).await;
    front.session(&secret).await.ok("whoami", json!({})).await;
    let Response::Tokens(list) = admin(bus.db()).call(Request::TokenList).await.unwrap() else {
        panic!("not a token list")
    };
    assert_eq!(list.tokens[0].name, "alpha");
    assert!(list.tokens[0].last_used.is_some(), "{list:?}");
}

#[tokio::test]
async fn a_closed_session_frees_its_name_for_the_next_one_at_once() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let secret = token(&bus, "alpha", None).await;
    for _ in 0..5 {
        let session = front.session(&secret).await;
        assert_eq!(
            session.ok("whoami", json!({})).await,
            json!({"name": "alpha"})
        );
        session.close().await;
    }
}

#[tokio::test]
async fn deleting_a_session_answers_200_and_ends_it() {
    let bus = TempBus::empty();
    let front = Front::start(&bus, &[]).await;
    let secret = token(&bus, "alpha", None).await;
    let response = front
        .http
        .post(&front.url)
        .bearer_auth(&secret)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize())
        .send()
        .await
        .unwrap();
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let deleted = front
        .http
        .delete(&front.url)
        .bearer_auth(&secret)
        .header("mcp-session-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    assert_eq!(front.post(Some(&secret), Some(&id), list).await.0, 404);
}
