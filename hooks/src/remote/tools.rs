//! Which tool of the HTTP front serves each request, with which arguments, and how its JSON
//! result reads back as the [`Response`] busd would have given.

use proto::{Request, Response};
use serde_json::{Value, json};

/// The tool and its arguments for `request`, or `None` for what no tool serves.
pub fn tool_of(request: &Request) -> Option<(&'static str, Value)> {
    Some(match request {
        Request::Register { name, role, owns } => (
            "register",
            json!({"name": name, "role": role, "owns": owns}),
        ),
        Request::Whoami => ("whoami", json!({})),
        Request::Agents { active_within, all } => (
            "agents",
            json!({"active_within": active_within, "all": all}),
        ),
        Request::Send {
            to,
            content,
            reply_to,
        } => (
            "send",
            json!({"to": to, "content": content, "reply_to": reply_to}),
        ),
        Request::Ask {
            to,
            content,
            reply_to,
            wait,
        } => (
            "send",
            json!({"to": to, "content": content, "reply_to": reply_to, "wait_reply": wait}),
        ),
        // A waiter slot is busd's alone: over HTTP two waiters of one name both wait.
        Request::Inbox {
            consume,
            limit,
            wait,
            waiter: _,
        } => (
            "inbox",
            json!({"consume": consume, "limit": limit, "wait": wait}),
        ),
        Request::Thread { id } => ("inbox", json!({"thread": id})),
        Request::MessageStatus { message_id } => {
            ("message_status", json!({"message_id": message_id}))
        }
        Request::SetState {
            key,
            value,
            expected_version,
            mode,
        } => (
            "set_state",
            json!({"key": key, "value": value, "expected_version": expected_version, "mode": mode}),
        ),
        Request::GetState { key } => ("get_state", json!({"key": key.clone().unwrap_or_default()})),
        Request::WaitState {
            key,
            after_version,
            wait,
        } => (
            "get_state",
            json!({"key": key, "after_version": after_version, "wait": wait}),
        ),
        Request::ListState => ("list_state", json!({})),
        Request::Claim { path, ttl } => ("claim", json!({"path": path, "ttl": ttl})),
        Request::Release { path } => ("release", json!({"path": path})),
        Request::ListClaims => ("list_claims", json!({})),
        _ => return None,
    })
}

/// The command a request no tool serves comes from, for the refusal.
pub fn command_of(request: &Request) -> &'static str {
    match request {
        Request::Tail { .. } => "`bus tail`",
        Request::Status => "`bus status` of busd",
        Request::Shutdown => "`bus stop`",
        Request::Restart => "`bus restart`",
        Request::TokenCreate { .. } | Request::TokenList | Request::TokenRevoke { .. } => {
            "`bus token`"
        }
        _ => "this request",
    }
}

/// The tool's result for `request` as busd's answer.
pub fn response_of(request: &Request, value: Value) -> Result<Response, serde_json::Error> {
    use serde_json::from_value as read;
    Ok(match request {
        Request::Register { .. } => Response::Registered(read(value)?),
        Request::Whoami => Response::Identity(read(value)?),
        Request::Agents { .. } => Response::Agents(read(value)?),
        Request::Send { .. } => Response::Sent(read(value)?),
        Request::Ask { .. } => Response::Asked(read(value)?),
        Request::Inbox { .. } | Request::Thread { .. } => Response::Inbox(read(value)?),
        Request::MessageStatus { .. } => Response::MessageStatus(read(value)?),
        Request::SetState { .. } => Response::StateWritten(read(value)?),
        Request::GetState { .. } | Request::WaitState { .. } => Response::State(read(value)?),
        Request::ListState => Response::StateKeys(read(value)?),
        Request::Claim { .. } => Response::Claimed(read(value)?),
        Request::Release { .. } => Response::Released(read(value)?),
        Request::ListClaims => Response::Claims(read(value)?),
        _ => Response::Done,
    })
}
