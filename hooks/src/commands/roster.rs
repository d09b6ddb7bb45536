//! `bus agents`, `bus claims`, `bus claim` and `bus release`: who is on the bus and which
//! paths they announced.

use crate::bus::Bus;
use proto::AgentStatus;
use proto::client::call;

use crate::identity;
use crate::output::{self, say};

pub async fn agents(client: &Bus, json: bool, all: bool, active_within: f64) -> anyhow::Result<()> {
    let list = client.run(call::agents(active_within, all)).await?;
    if json {
        return output::json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .agents
        .iter()
        .map(|a| {
            let status = match (a.status, a.waiting) {
                (AgentStatus::Online, true) => "online, waiting",
                (AgentStatus::Online, false) => "online",
                (AgentStatus::Away, _) => "away",
                (AgentStatus::Offline, _) => "offline",
            };
            let seen = if a.connected {
                "now".to_owned()
            } else {
                format!("{} ago", output::duration(a.seconds_ago))
            };
            vec![
                a.name.clone(),
                status.to_owned(),
                dash(a.host.as_deref().unwrap_or("")),
                dash(&a.role),
                dash(&a.owns.join(", ")),
                seen,
                dash(&a.overlaps.join(", ")),
            ]
        })
        .collect();
    let header = ["NAME", "STATUS", "HOST", "ROLE", "OWNS", "SEEN", "OVERLAPS"];
    say!("{}", output::listing("no agents", &header, &rows))?;
    Ok(())
}

pub async fn claims(client: &Bus, json: bool) -> anyhow::Result<()> {
    let list = client.run(call::list_claims()).await?;
    if json {
        return output::json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .claims
        .iter()
        .map(|c| {
            vec![
                c.path.clone(),
                c.owner.clone(),
                output::duration(c.ttl_remaining),
            ]
        })
        .collect();
    let header = ["PATH", "OWNER", "EXPIRES IN"];
    say!("{}", output::listing("no live claims", &header, &rows))?;
    Ok(())
}

pub async fn claim(
    client: &Bus,
    me: Option<&str>,
    json: bool,
    path: String,
    ttl: f64,
) -> anyhow::Result<()> {
    identity::act_as_resolved(client, me).await?;
    let claimed = client.run(call::claim(path, ttl)).await?;
    if json {
        return output::json(&claimed);
    }
    say!(
        "{} claimed {} until {}",
        claimed.owner,
        claimed.path,
        claimed.expires_at
    )?;
    Ok(())
}

pub async fn release(
    client: &Bus,
    me: Option<&str>,
    json: bool,
    path: String,
) -> anyhow::Result<()> {
    let name = identity::act_as_resolved(client, me).await?;
    let released = client.run(call::release(path)).await?;
    if json {
        return output::json(&released);
    }
    if released.released {
        say!("{name} released {}", released.path)?;
    } else {
        say!(
            "{name} had no claim on {}: nothing to release",
            released.path
        )?;
    }
    Ok(())
}

fn dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.into() }
}
