//! `bus send`, `bus inbox` and `bus tail`.

use proto::client::Client;
use proto::{ErrorKind, Request, limits};

use super::reply;
use crate::identity;
use crate::output::{self, arg_or_stdin};

pub async fn send(
    client: &Client,
    me: Option<&str>,
    json: bool,
    to: String,
    content: String,
    reply_to: Option<i64>,
) -> anyhow::Result<()> {
    let content = arg_or_stdin(content)?;
    identity::act_as_resolved(client, me).await?;
    let request = Request::Send {
        to,
        content,
        reply_to,
    };
    let sent = reply!(client.call(request).await?, Sent);
    if json {
        return output::json(&sent);
    }
    println!("sent #{} to {}", sent.id, sent.to);
    Ok(())
}

pub async fn inbox(
    client: &Client,
    me: Option<&str>,
    json: bool,
    peek: bool,
    wait: f64,
    limit: u32,
) -> anyhow::Result<()> {
    let name = identity::act_as_resolved(client, me).await?;
    let request = Request::Inbox {
        consume: !peek,
        limit,
        wait,
        waiter: None,
    };
    let page = reply!(client.call(request).await?, Inbox);
    if json {
        return output::json(&page);
    }
    if page.messages.is_empty() {
        let within = if wait > 0.0 {
            format!(" within {}", output::duration(wait))
        } else {
            String::new()
        };
        println!("no new messages for {name}{within}");
    }
    for m in &page.messages {
        println!("{}\n", output::message(m));
    }
    if peek && !page.messages.is_empty() {
        println!("{} unread; nothing was marked read", page.pending_count);
    } else if page.pending_count > 0 {
        println!("{} more unread", page.pending_count);
    }
    Ok(())
}

/// Print every message as it is committed, until interrupted or busd stops. Each `Tail` call
/// blocks in busd until a message commits: there is no polling. A restart of busd is not an end:
/// the client asks the next busd and the tail goes on.
pub async fn tail(client: &Client, json: bool, after: Option<i64>) -> anyhow::Result<()> {
    let wait = limits::WAIT_MAX_SECONDS;
    let mut after = after;
    if !json {
        eprintln!("following every message on the bus (Ctrl-C to stop)");
    }
    loop {
        let request = Request::Tail {
            after,
            wait,
            limit: 100,
        };
        let waited = match client.call_waiting(request).await {
            Ok(waited) => waited,
            // busd stopped before it read this call (it said so on the connection).
            Err(e) if e.kind() == Some(ErrorKind::ShuttingDown) => return stopped(json),
            Err(e) => return Err(e.into()),
        };
        let page = reply!(waited.response, Tail);
        for m in &page.messages {
            if json {
                output::json(m)?;
            } else {
                println!("{}\n", output::message(m));
            }
        }
        after = Some(page.last_id);
        if waited.stopping {
            return stopped(json);
        }
    }
}

fn stopped(json: bool) -> anyhow::Result<()> {
    if !json {
        eprintln!("busd stopped");
    }
    Ok(())
}
