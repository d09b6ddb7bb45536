//! `/events`: the view's server-sent events. Each change busd reports (`Request::Watch`, no
//! timer) sends `snapshot` (agents, claims, keys) and `messages` (those committed since the
//! last event; the latest [`HISTORY`] first, after a `reset`). The token is checked again
//! before each event. The stream ends when the page goes away or busd stops.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use proto::client::{Client, ClientOptions};
use proto::{ClientKind, Message, Request, Response as Answer, limits};
use serde_json::json;
use tokio::sync::mpsc;

use crate::http::front::{Body, Front, Refusal};

/// How many of the latest messages a new page starts with.
const HISTORY: i64 = 500;
/// The longest content sent to the page (a message is at most 64 KiB): the rest is cut, and
/// the page says so.
const CONTENT_MAX: usize = 4000;

pub fn stream(front: &Front, token: String) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let opts = ClientOptions {
        stay_connected: false,
        ..ClientOptions::new(front.paths.clone(), ClientKind::Other)
    };
    let auth = front.auth.clone();
    tokio::spawn(async move {
        let client = Client::new(opts);
        tokio::select! {
            () = follow(&client, &auth, &token, &tx) => {}
            () = tx.closed() => {} // the page went away
        }
    });
    let frames = futures::stream::unfold(rx, |mut rx| async move {
        let bytes = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(bytes)), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-accel-buffering", "no")
        .body(StreamBody::new(frames).boxed())
        .expect("a valid response")
}

fn event(name: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

async fn follow(client: &Client, auth: &Client, token: &str, tx: &mpsc::Sender<Bytes>) {
    if let Err(why) = run(client, auth, token, tx).await {
        tracing::info!("a view's stream ended: {why}");
        let _ = tx.send(event("ended", &json!({ "why": why }))).await;
    }
}

async fn run(
    client: &Client,
    auth: &Client,
    token: &str,
    tx: &mpsc::Sender<Bytes>,
) -> Result<(), String> {
    let _ = tx.send(event("reset", &json!({}))).await;
    let mut seq = 0;
    let mut last_id: Option<i64> = None;
    loop {
        let watch = Request::Watch {
            after: seq,
            wait: limits::WAIT_MAX_SECONDS,
        };
        let waited = client
            .call_waiting(watch)
            .await
            .map_err(|e| e.to_string())?;
        let Answer::Changed(changes) = waited.response else {
            return Err("busd answered watch with something else".into());
        };
        if waited.stopping {
            return Err("busd stopped".into());
        }
        if changes.seq == seq {
            // Nothing in an hour: a comment keeps proxies from closing the stream.
            tx.send(Bytes::from_static(b": idle\n\n"))
                .await
                .map_err(|_| "gone")?;
            continue;
        }
        seq = changes.seq;
        match Front::check(auth, token).await {
            Ok(_) => {}
            Err(Refusal::Unauthorized) => return Err("the token was revoked".into()),
            Err(Refusal::Unavailable(why)) => return Err(why),
        }
        let (snapshot, messages) = look(client, &mut last_id).await?;
        tx.send(event("snapshot", &snapshot))
            .await
            .map_err(|_| "gone")?;
        if !messages.is_empty() {
            tx.send(event("messages", &json!(messages)))
                .await
                .map_err(|_| "gone")?;
        }
    }
}

async fn call(client: &Client, request: Request) -> Result<Answer, String> {
    client.call(request).await.map_err(|e| e.to_string())
}

async fn look(
    client: &Client,
    last_id: &mut Option<i64>,
) -> Result<(serde_json::Value, Vec<serde_json::Value>), String> {
    let agents = match call(
        client,
        Request::Agents {
            active_within: 180.0,
            all: false,
        },
    )
    .await?
    {
        Answer::Agents(list) => list.agents,
        _ => return Err("unexpected answer to agents".into()),
    };
    let claims = match call(client, Request::ListClaims).await? {
        Answer::Claims(list) => list.claims,
        _ => return Err("unexpected answer to list_claims".into()),
    };
    let keys = match call(client, Request::ListState).await? {
        Answer::StateKeys(list) => list.keys,
        _ => return Err("unexpected answer to list_state".into()),
    };
    let snapshot = json!({
        "agents": agents,
        "claims": claims,
        "keys": keys,
        "now": proto::time::rfc3339(proto::time::now()),
    });
    let mut after = match *last_id {
        Some(id) => id,
        None => (tail(client, None, 1).await?.1 - HISTORY).max(0),
    };
    let mut messages = Vec::new();
    loop {
        let (page, last) = tail(client, Some(after), 1000).await?;
        let full = page.len() == 1000;
        messages.extend(page.into_iter().map(shown));
        after = last;
        if !full {
            break;
        }
    }
    *last_id = Some(after);
    Ok((snapshot, messages))
}

async fn tail(
    client: &Client,
    after: Option<i64>,
    limit: u32,
) -> Result<(Vec<Message>, i64), String> {
    match call(
        client,
        Request::Tail {
            after,
            wait: 0.0,
            limit,
        },
    )
    .await?
    {
        Answer::Tail(page) => Ok((page.messages, page.last_id)),
        _ => Err("unexpected answer to tail".into()),
    }
}

/// A message as the page gets it: content cut at [`CONTENT_MAX`] bytes (on a character).
fn shown(m: Message) -> serde_json::Value {
    let mut cut = m.content.len().min(CONTENT_MAX);
    while !m.content.is_char_boundary(cut) {
        cut -= 1;
    }
    json!({
        "id": m.id,
        "from": m.from,
        "to": m.to,
        "reply_to": m.reply_to,
        "ts": m.ts,
        "content": &m.content[..cut],
        "cut": cut < m.content.len(),
    })
}
