//! `bus send … --wait-reply S`: send, then wait for the first reply and print it.

use crate::bus::Bus;
use proto::SendResult;
use proto::client::call;

use crate::identity;
use crate::output::{self, arg_or_stdin, say};

pub async fn send(
    client: &Bus,
    me: Option<&str>,
    json: bool,
    to: String,
    content: String,
    reply_to: Option<i64>,
    wait: f64,
) -> anyhow::Result<()> {
    let content = arg_or_stdin(content)?;
    identity::act_as_resolved(client, me).await?;
    let asked = client.run(call::ask(to, content, reply_to, wait)).await?;
    if json {
        return output::json(&SendResult::from(asked));
    }
    say!("sent #{} to {}", asked.id, asked.to)?;
    match &asked.reply {
        Some(m) => say!("{}", output::message(m))?,
        None => say!("no reply within {}", output::duration(wait))?,
    }
    Ok(())
}
