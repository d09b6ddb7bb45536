//! Reaching the daemon and deciding who `bus` acts as.
//!
//! The name is, in order: `--as`, `BUS_NAME`, then the name that a Claude Code session
//! registered through its bus-shim, found by session id (`CLAUDE_CODE_SESSION_ID`, and for hooks
//! also the `session_id` of the hook's input) or, since `/clear` and `/resume` change the
//! session id, by the Claude Code process itself (`CLAUDE_PID` and its start time), which the
//! shim named to busd as it connected. busd remembers which name each session holds.

use std::time::Duration;

use proto::client::{Client, ClientError, ClientOptions};
use proto::{ClientKind, Request, Response};

/// A client for the bus of this environment. Hooks mostly pass `autostart: false`: they never
/// start a daemon for nothing, and give up quickly when none answers.
pub fn client(autostart: bool) -> anyhow::Result<Client> {
    let mut opts = ClientOptions::from_env(ClientKind::Cli)?;
    opts.autostart = autostart;
    if !autostart {
        opts.reconnect_for = Duration::from_secs(3);
    }
    Ok(Client::new(opts))
}

/// `CLAUDE_CODE_SESSION_ID`, when set.
pub fn session_from_env() -> Option<String> {
    non_empty(std::env::var("CLAUDE_CODE_SESSION_ID").ok())
}

/// The name given by `--as` or `BUS_NAME`, if any.
pub fn given(explicit: Option<&str>) -> Option<String> {
    non_empty(explicit.map(str::to_owned)).or_else(|| non_empty(std::env::var("BUS_NAME").ok()))
}

/// The name to act as, or `None` when nothing names one. `wait`: how long busd may wait for
/// the session's shim to register its name (a hook that runs before the shim connected).
pub async fn resolve(
    client: &Client,
    explicit: Option<&str>,
    sessions: &[String],
    wait: Duration,
) -> Result<Option<String>, ClientError> {
    if let Some(name) = given(explicit) {
        return Ok(Some(name));
    }
    let host = proto::Host::of_hook();
    if sessions.is_empty() && host.is_none() {
        return Ok(None);
    }
    let request = Request::Resolve {
        session_ids: sessions.to_vec(),
        wait: if host.is_some() {
            wait.as_secs_f64()
        } else {
            0.0
        },
        host,
    };
    match client.call(request).await? {
        Response::Identity(found) => Ok(found.name),
        _ => Ok(None),
    }
}

/// Bind `name` to this connection without holding it, so identity-bound requests use it.
pub async fn act_as(client: &Client, name: &str) -> Result<(), ClientError> {
    client
        .call(Request::ActAs {
            name: name.to_owned(),
        })
        .await
        .map(|_| ())
}

/// Resolve the name and act as it, if anything names one.
pub async fn act_as_known(
    client: &Client,
    explicit: Option<&str>,
) -> Result<Option<String>, ClientError> {
    let sessions: Vec<String> = session_from_env().into_iter().collect();
    let name = resolve(client, explicit, &sessions, Duration::ZERO).await?;
    if let Some(name) = &name {
        act_as(client, name).await?;
    }
    Ok(name)
}

/// Resolve the name for a command that needs one and act as it, or say how to give one.
pub async fn act_as_resolved(client: &Client, explicit: Option<&str>) -> anyhow::Result<String> {
    act_as_known(client, explicit).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "no name to act as: pass --as NAME, set BUS_NAME, or run inside a Claude Code session \
             whose bus-shim registered a name"
        )
    })
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}
