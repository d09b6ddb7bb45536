//! `bus register` and `bus whoami`: a name's role and owned globs, and the name `bus` acts as.

use crate::bus::Bus;
use proto::Identity;
use proto::client::call;

use crate::identity;
use crate::output::{self, say};

/// Register `name` as the tool does. The name is held while this command's connection is open,
/// so a name a connected session holds is refused, and the name is free again when `bus` exits.
pub async fn register(
    client: &Bus,
    json: bool,
    name: String,
    role: Option<String>,
    owns: Option<Vec<String>>,
) -> anyhow::Result<()> {
    let registered = client.run(call::register(name, role, owns)).await?;
    if json {
        return output::json(&registered);
    }
    let role = if registered.role.is_empty() {
        "no role".to_owned()
    } else {
        format!("role '{}'", registered.role)
    };
    let owns = if registered.owns.is_empty() {
        "owns nothing".to_owned()
    } else {
        format!("owns {}", registered.owns.join(", "))
    };
    say!("registered {}: {role}, {owns}", registered.name)?;
    let peers = if registered.peers.is_empty() {
        "none".to_owned()
    } else {
        registered.peers.join(", ")
    };
    say!(
        "online: {peers}; {}",
        output::count(
            registered.pending_count,
            "unread message",
            "unread messages"
        )
    )?;
    Ok(())
}

/// The name this command would act as, without binding it.
pub async fn whoami(client: &Bus, me: Option<&str>, json: bool) -> anyhow::Result<()> {
    let sessions: Vec<String> = identity::session_from_env().into_iter().collect();
    let name = identity::resolve(client, me, &sessions, std::time::Duration::ZERO).await?;
    if json {
        return output::json(&Identity { name });
    }
    match name {
        Some(name) => say!("{name}")?,
        None => say!(
            "no name: pass --as NAME, set BUS_NAME, or run inside a Claude Code session whose \
             bus-shim registered a name"
        )?,
    }
    Ok(())
}
