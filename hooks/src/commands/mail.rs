//! `bus send`, `bus inbox` and `bus tail`.

use crate::bus::Bus;
use proto::client::call;
use proto::{ErrorKind, limits};

use crate::identity;
use crate::output::{self, arg_or_stdin, say};

pub async fn send(
    client: &Bus,
    me: Option<&str>,
    json: bool,
    to: String,
    content: String,
    reply_to: Option<i64>,
) -> anyhow::Result<()> {
    let content = arg_or_stdin(content)?;
    identity::act_as_resolved(client, me).await?;
    let sent = client.run(call::send(to, content, reply_to)).await?;
    let unknown = sent.to != limits::BROADCAST && !registered(client, &sent.to).await;
    let note = format!(
        "no session has registered '{}' on this bus yet: the message waits until one does \
         (`bus agents --all` lists every name)",
        sent.to
    );
    if json {
        if unknown {
            eprintln!("bus: note: {note}");
        }
        return output::json(&sent);
    }
    say!("sent #{} to {}", sent.id, sent.to)?;
    if unknown {
        say!("note: {note}")?;
    }
    Ok(())
}

/// Whether `name` has ever registered. A failure to find out says yes: the note is a hint.
async fn registered(client: &Bus, name: &str) -> bool {
    match client.run(call::agents(0.0, true)).await {
        Ok(list) => list.agents.iter().any(|a| a.name == name),
        Err(_) => true,
    }
}

pub async fn inbox(
    client: &Bus,
    me: Option<&str>,
    json: bool,
    peek: bool,
    wait: f64,
    limit: u32,
) -> anyhow::Result<()> {
    let name = identity::act_as_resolved(client, me).await?;
    let page = client.run(call::inbox(!peek, limit, wait, None)).await?;
    if json {
        return output::json(&page);
    }
    if page.messages.is_empty() {
        let within = if wait > 0.0 {
            format!(" within {}", output::duration(wait))
        } else {
            String::new()
        };
        say!("no new messages for {name}{within}")?;
    }
    for m in &page.messages {
        say!("{}\n", output::message(m))?;
    }
    if peek && !page.messages.is_empty() {
        say!("{} unread; nothing was marked read", page.pending_count)?;
    } else if page.pending_count > 0 {
        say!("{} more unread", page.pending_count)?;
    }
    Ok(())
}

pub async fn message_status(client: &Bus, json: bool, message_id: i64) -> anyhow::Result<()> {
    let status = client.run(call::message_status(message_id)).await?;
    if json {
        return output::json(&status);
    }
    let readers: Vec<String> = status
        .readers
        .iter()
        .map(|r| format!("{} at {}", r.recipient, r.read_ts))
        .collect();
    say!(
        "#{} from {} to {}",
        status.message_id,
        status.sender,
        status.recipient
    )?;
    say!("read by  {}", dash_list(&readers))?;
    say!("unread   {}", dash_list(&status.unread))?;
    Ok(())
}

fn dash_list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// Print every message as it is committed, until interrupted or busd stops. Each `Tail` call
/// blocks in busd until a message commits: there is no polling. A restart of busd is not an end:
/// the client asks the next busd and the tail goes on.
pub async fn tail(client: &Bus, json: bool, after: Option<i64>) -> anyhow::Result<()> {
    let wait = limits::WAIT_MAX_SECONDS;
    let mut after = after;
    if !json {
        eprintln!("following every message on the bus (Ctrl-C to stop)");
    }
    loop {
        let waited = match client.run_waiting(call::tail(after, wait, 100)).await {
            Ok(waited) => waited,
            // busd stopped before it read this call (it said so on the connection).
            Err(e) if e.kind() == Some(ErrorKind::ShuttingDown) => return stopped(json),
            Err(e) => return Err(e.into()),
        };
        let page = waited.response;
        for m in &page.messages {
            if json {
                output::json(m)?;
            } else {
                say!("{}\n", output::message(m))?;
            }
        }
        after = Some(page.last_id);
        // busd answered `Stopped`: it cut the wait short because it stops for good.
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
