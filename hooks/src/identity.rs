//! Reaching the bus and deciding who `bus` acts as.
//!
//! Over `BUS_URL` the name is the one the token binds (`--as` or `BUS_NAME` may only repeat
//! it). Otherwise it is, in order: `--as`, `BUS_NAME`, then the name that a Claude Code session
//! registered through its bus-shim, found by session id (`CLAUDE_CODE_SESSION_ID`, and for hooks
//! also the `session_id` of the hook's input) or, since `/clear` and `/resume` change the
//! session id, by the Claude Code process itself (`CLAUDE_PID` and its start time), which the
//! shim named to busd as it connected. busd remembers which name each session holds.

use std::time::Duration;

use proto::ClientKind;
use proto::client::{Client, ClientError, ClientOptions, call};

use crate::bus::Bus;
use crate::remote::{Remote, RemoteOptions};

/// The bus of this environment: the HTTP front at `BUS_URL` when that is set, else busd on
/// this machine (see [`local`]).
pub fn client(autostart: bool) -> anyhow::Result<Bus> {
    Ok(match RemoteOptions::from_env()? {
        Some(opts) => Bus::Remote(Remote::new(opts)),
        None => Bus::Local(local(autostart)?),
    })
}

/// A client of busd on this machine. Hooks mostly pass `autostart: false`: they never start a
/// daemon for nothing, and give up quickly when none answers.
pub fn local(autostart: bool) -> anyhow::Result<Client> {
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
    client: &Bus,
    explicit: Option<&str>,
    sessions: &[String],
    wait: Duration,
) -> Result<Option<String>, ClientError> {
    if let Some(name) = given(explicit) {
        return Ok(Some(name));
    }
    // Over HTTP the token binds the name.
    if let Bus::Remote(remote) = client {
        return remote.name().await;
    }
    let host = proto::Host::of_hook();
    if sessions.is_empty() && host.is_none() {
        return Ok(None);
    }
    let wait = if host.is_some() {
        wait.as_secs_f64()
    } else {
        0.0
    };
    let found = client
        .run(call::resolve(sessions.to_vec(), host, wait))
        .await?;
    Ok(found.name)
}

/// Bind `name` to this connection without holding it, so identity-bound requests use it.
pub async fn act_as(client: &Bus, name: &str) -> Result<(), ClientError> {
    client.run(call::act_as(name.to_owned())).await.map(drop)
}

/// Resolve the name and act as it, if anything names one.
pub async fn act_as_known(
    client: &Bus,
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
pub async fn act_as_resolved(client: &Bus, explicit: Option<&str>) -> anyhow::Result<String> {
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

/// A client of busd on this machine for `what`, which only busd's socket serves: refused
/// while `BUS_URL` points `bus` at a remote bus.
pub fn local_only(what: &str, autostart: bool) -> anyhow::Result<Client> {
    if let Some(opts) = RemoteOptions::from_env()? {
        anyhow::bail!(
            "{what} works only on the bus's own machine, and BUS_URL points at the bus at {}: \
             run it there, or unset BUS_URL for the bus on this machine",
            opts.url
        );
    }
    local(autostart)
}
