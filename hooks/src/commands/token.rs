//! `bus token create|list|revoke`: the tokens that bind HTTP sessions to names.

use proto::client::{Client, call};

use crate::args::TokenCommand;
use crate::output::{self, say};

pub async fn run(client: &Client, json: bool, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { name, role } => {
            let created = client.run(call::token_create(name, role)).await?;
            if json {
                output::json(&created)?;
            } else {
                say!("{}", created.token)?;
                eprintln!(
                    "bus: the token of '{}' is shown this once; pass it as `Authorization: Bearer <token>`",
                    created.name
                );
            }
        }
        TokenCommand::List => {
            let list = client.run(call::token_list()).await?;
            if json {
                output::json(&list)?;
            } else if list.tokens.is_empty() {
                say!("no tokens (`bus token create NAME` makes one)")?;
            }
            for t in list.tokens.iter().filter(|_| !json) {
                let role = if t.role.is_empty() {
                    String::new()
                } else {
                    format!(" role {}", t.role)
                };
                let used = t.last_used.as_deref().unwrap_or("never");
                say!("{}{role}  created {}  last used {used}", t.name, t.created)?;
            }
        }
        TokenCommand::Revoke { name } => {
            let revoked = client.run(call::token_revoke(name)).await?;
            if json {
                output::json(&revoked)?;
            } else if revoked.revoked {
                say!("revoked the token of {}", revoked.name)?;
            } else {
                eprintln!("bus: '{}' has no token", revoked.name);
                return Err(super::Answered(1).into());
            }
        }
    }
    Ok(())
}
