//! `bus hook prompt` and `bus hook session-start`: a short note on the bus for the model.

use proto::client::call;

use super::text;
use super::{Outcome, Session};

/// A prompt Claude Code submits with this bus's channel tags in it took those pushes: mark
/// the messages read, so neither `inbox` nor the Stop hook hands them over again.
pub async fn mark_taken(session: &Session, prompt: Option<&str>) -> anyhow::Result<()> {
    for message_id in proto::channel::taken_ids(prompt.unwrap_or_default()) {
        session.client.run(call::mark_read(message_id)).await?;
    }
    Ok(())
}

/// `hookSpecificOutput.additionalContext` for `event` (`UserPromptSubmit` or `SessionStart`).
pub async fn context(session: &Session, event: &str) -> anyhow::Result<Outcome> {
    let client = &session.client;
    let (agents, inbox, claims) = tokio::try_join!(
        client.run(call::agents(180.0, false)),
        client.run(call::inbox(false, 1, 0.0, None)),
        client.run(call::list_claims())
    )?;
    let note = text::context(&session.name, &agents, inbox.pending_count, &claims);
    Ok(Outcome::Stdout(serde_json::json!({
        "hookSpecificOutput": {
            "hookEventName": event,
            "additionalContext": note,
        }
    })))
}
