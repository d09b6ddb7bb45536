//! A soak session, one set of calls over two kinds: an in-process `proto` client with
//! autostart (the very reconnect-and-resend logic bus-shim runs), or a real bus-shim process
//! driven over MCP.

use std::sync::Arc;

use proto::client::{Client, ClientError};
use proto::{ErrorKind, Request, Response, StateMode};
use serde_json::{Value, json};

use crate::mcp::Shim;

/// Why a call did not succeed.
#[derive(Debug)]
pub enum Fail {
    /// An expected refusal: a path claimed by another session.
    Refused(String),
    /// The call failed on the way: it may or may not have been applied.
    Unavailable(String),
    /// Anything else: a defect.
    Other(String),
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Refused(why) => write!(f, "refused: {why}"),
            Fail::Unavailable(why) => write!(f, "unavailable: {why}"),
            Fail::Other(why) => write!(f, "{why}"),
        }
    }
}

/// A message as a reader got it.
pub struct Got {
    pub id: i64,
    pub content: String,
}

pub enum Session {
    Client(Client),
    Shim(Arc<Shim>),
}

impl Session {
    pub async fn register(&self, name: &str) -> Result<(), Fail> {
        match self {
            Session::Client(c) => client_call(
                c,
                Request::Register {
                    name: name.into(),
                    role: Some("soak".into()),
                    owns: None,
                },
            )
            .await
            .map(drop),
            Session::Shim(s) => shim_call(s, "register", json!({"name": name, "role": "soak"}))
                .await
                .map(drop),
        }
    }

    pub async fn send(&self, to: &str, content: &str) -> Result<i64, Fail> {
        match self {
            Session::Client(c) => {
                let sent = client_call(
                    c,
                    Request::Send {
                        to: to.into(),
                        content: content.into(),
                        reply_to: None,
                    },
                )
                .await?;
                match sent {
                    Response::Sent(s) => Ok(s.id),
                    other => Err(Fail::Other(format!("send answered {other:?}"))),
                }
            }
            Session::Shim(s) => {
                let sent = shim_call(s, "send", json!({"to": to, "content": content})).await?;
                sent["id"]
                    .as_i64()
                    .ok_or_else(|| Fail::Other(format!("send answered {sent}")))
            }
        }
    }

    /// Send `content` to `to` answering message `reply_to`.
    pub async fn reply(&self, to: &str, content: &str, reply_to: i64) -> Result<i64, Fail> {
        match self {
            Session::Client(c) => {
                let request = Request::Send {
                    to: to.into(),
                    content: content.into(),
                    reply_to: Some(reply_to),
                };
                match client_call(c, request).await? {
                    Response::Sent(s) => Ok(s.id),
                    other => Err(Fail::Other(format!("send answered {other:?}"))),
                }
            }
            Session::Shim(s) => {
                let args = json!({"to": to, "content": content, "reply_to": reply_to});
                let sent = shim_call(s, "send", args).await?;
                sent["id"]
                    .as_i64()
                    .ok_or_else(|| Fail::Other(format!("send answered {sent}")))
            }
        }
    }

    /// Send and wait up to `wait` seconds for the first reply (`send(wait_reply)`).
    pub async fn ask(
        &self,
        to: &str,
        content: &str,
        wait: f64,
    ) -> Result<(i64, Option<Got>), Fail> {
        match self {
            Session::Client(c) => {
                let request = Request::Ask {
                    to: to.into(),
                    content: content.into(),
                    reply_to: None,
                    wait,
                };
                match client_call(c, request).await? {
                    Response::Asked(a) => Ok((
                        a.id,
                        a.reply.map(|m| Got {
                            id: m.id,
                            content: m.content,
                        }),
                    )),
                    other => Err(Fail::Other(format!("ask answered {other:?}"))),
                }
            }
            Session::Shim(s) => {
                let args = json!({"to": to, "content": content, "wait_reply": wait});
                let asked = shim_call(s, "send", args).await?;
                let id = asked["id"]
                    .as_i64()
                    .ok_or_else(|| Fail::Other(format!("send answered {asked}")))?;
                let reply = asked["reply"].as_object().map(|m| Got {
                    id: m["id"].as_i64().unwrap_or(-1),
                    content: m["content"].as_str().unwrap_or("").to_owned(),
                });
                Ok((id, reply))
            }
        }
    }

    /// Consume up to `limit` messages, waiting up to `wait` seconds; also the count left.
    pub async fn inbox(&self, wait: f64, limit: u32) -> Result<(Vec<Got>, u64), Fail> {
        match self {
            Session::Client(c) => {
                let request = Request::Inbox {
                    consume: true,
                    limit,
                    wait,
                    waiter: None,
                };
                match client_call(c, request).await? {
                    Response::Inbox(page) => Ok((
                        page.messages
                            .into_iter()
                            .map(|m| Got {
                                id: m.id,
                                content: m.content,
                            })
                            .collect(),
                        page.pending_count,
                    )),
                    other => Err(Fail::Other(format!("inbox answered {other:?}"))),
                }
            }
            Session::Shim(s) => {
                let page = shim_call(s, "inbox", json!({"wait": wait, "limit": limit})).await?;
                let messages = page["messages"]
                    .as_array()
                    .ok_or_else(|| Fail::Other(format!("inbox answered {page}")))?;
                let got = messages
                    .iter()
                    .map(|m| Got {
                        id: m["id"].as_i64().unwrap_or(-1),
                        content: m["content"].as_str().unwrap_or("").to_owned(),
                    })
                    .collect();
                Ok((got, page["pending_count"].as_u64().unwrap_or(0)))
            }
        }
    }

    /// Append a line to a state key; returns its new version.
    pub async fn append(&self, key: &str, value: &str) -> Result<i64, Fail> {
        match self {
            Session::Client(c) => {
                let request = Request::SetState {
                    key: key.into(),
                    value: value.into(),
                    expected_version: None,
                    mode: StateMode::Append,
                };
                match client_call(c, request).await? {
                    Response::StateWritten(w) => Ok(w.version),
                    other => Err(Fail::Other(format!("set_state answered {other:?}"))),
                }
            }
            Session::Shim(s) => {
                let args = json!({"key": key, "value": value, "mode": "append"});
                let written = shim_call(s, "set_state", args).await?;
                written["version"]
                    .as_i64()
                    .ok_or_else(|| Fail::Other(format!("set_state answered {written}")))
            }
        }
    }

    pub async fn claim(&self, path: &str, ttl: f64) -> Result<(), Fail> {
        match self {
            Session::Client(c) => client_call(
                c,
                Request::Claim {
                    path: path.into(),
                    ttl,
                },
            )
            .await
            .map(drop),
            Session::Shim(s) => shim_call(s, "claim", json!({"path": path, "ttl": ttl}))
                .await
                .map(drop),
        }
    }

    pub async fn release(&self, path: &str) -> Result<(), Fail> {
        match self {
            Session::Client(c) => client_call(c, Request::Release { path: path.into() })
                .await
                .map(drop),
            Session::Shim(s) => shim_call(s, "release", json!({"path": path}))
                .await
                .map(drop),
        }
    }
}

async fn client_call(client: &Client, request: Request) -> Result<Response, Fail> {
    client.call(request).await.map_err(|e| match e {
        ClientError::Unavailable(why) | ClientError::NoAnswer(why) => Fail::Unavailable(why),
        ClientError::Refused(e) if matches!(e.kind, ErrorKind::Conflict | ErrorKind::Forbidden) => {
            Fail::Refused(e.message)
        }
        ClientError::Refused(e) => Fail::Other(format!("{:?}: {}", e.kind, e.message)),
        ClientError::Unexpected(why) => Fail::Other(why),
    })
}

async fn shim_call(shim: &Shim, tool: &str, args: Value) -> Result<Value, Fail> {
    shim.call(tool, args).await.map_err(|text| {
        if text.starts_with("the bus is unavailable") {
            Fail::Unavailable(text)
        } else if text.contains("is claimed by") {
            Fail::Refused(text)
        } else {
            Fail::Other(text)
        }
    })
}
