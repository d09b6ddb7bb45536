//! `bus hook prompt` and `bus hook session-start`: a short note on the bus for the model.

use proto::{Request, Response};

use super::text;
use super::{Outcome, Session};

/// `hookSpecificOutput.additionalContext` for `event` (`UserPromptSubmit` or `SessionStart`).
pub async fn context(session: &Session, event: &str) -> anyhow::Result<Outcome> {
    let client = &session.client;
    let agents = Request::Agents {
        active_within: 180.0,
        all: false,
    };
    let peek = Request::Inbox {
        consume: false,
        limit: 1,
        wait: 0.0,
        waiter: None,
    };
    let (agents, inbox, claims) = tokio::try_join!(
        client.call(agents),
        client.call(peek),
        client.call(Request::ListClaims)
    )?;
    let (Response::Agents(agents), Response::Inbox(inbox), Response::Claims(claims)) =
        (agents, inbox, claims)
    else {
        anyhow::bail!("busd answered with unexpected replies: is it the same version as bus?");
    };
    let note = text::context(&session.name, &agents, inbox.pending_count, &claims);
    Ok(Outcome::Stdout(serde_json::json!({
        "hookSpecificOutput": {
            "hookEventName": event,
            "additionalContext": note,
        }
    })))
}
