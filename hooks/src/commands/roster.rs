//! `bus agents` and `bus claims`: who is on the bus and which paths they announced.

use proto::client::Client;
use proto::{AgentStatus, Request};

use super::reply;
use crate::output::{self, say};

pub async fn agents(
    client: &Client,
    json: bool,
    all: bool,
    active_within: f64,
) -> anyhow::Result<()> {
    let list = reply!(
        client.call(Request::Agents { active_within, all }).await?,
        Agents
    );
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
                dash(&a.role),
                dash(&a.owns.join(", ")),
                seen,
                dash(&a.overlaps.join(", ")),
            ]
        })
        .collect();
    let header = ["NAME", "STATUS", "ROLE", "OWNS", "SEEN", "OVERLAPS"];
    say!("{}", output::listing("no agents", &header, &rows))?;
    Ok(())
}

pub async fn claims(client: &Client, json: bool) -> anyhow::Result<()> {
    let list = reply!(client.call(Request::ListClaims).await?, Claims);
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

fn dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.into() }
}
