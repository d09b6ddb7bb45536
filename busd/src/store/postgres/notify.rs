//! Wake-ups across machines: every commit that changes what readers wait for also `NOTIFY`s
//! the channel [`CHANNEL`] inside its transaction (PostgreSQL delivers a notification only if
//! its transaction commits, after it has), and every busd `LISTEN`s on a connection of its own
//! and hands what the others committed to its hub, as its own commits are.
//!
//! A payload is JSON: the sending busd's instance id (a busd skips its own: its hub heard of
//! them from its database thread already) and the events, `["m", id, recipient]`,
//! `["s", key, version]`, `["c", path]`, `["a", name]`; a batch too large for one
//! notification (PostgreSQL's limit is 8000 bytes) is sent as several.
//!
//! When the listening connection drops, what was committed meanwhile was never heard: once it
//! is back, every parked reader checks again ([`CommitListener::missed`]).

use std::time::Duration;

use serde_json::{Value, json};

use super::connect::Target;
use crate::store::{CommitListener, Committed};

/// The channel of the bus's notifications.
pub(super) const CHANNEL: &str = "claude_bus";

/// Room for one payload, under PostgreSQL's 8000 bytes.
const PAYLOAD_MAX: usize = 7000;

/// The payloads announcing `events`, each within [`PAYLOAD_MAX`] (an event too large for any
/// payload alone becomes "everyone look again": an empty list).
pub(super) fn payloads(instance: &str, events: &[Committed]) -> Vec<String> {
    let mut out = Vec::new();
    let mut batch: Vec<Value> = Vec::new();
    let mut size = 0;
    for event in events {
        let item = match event {
            Committed::Message { id, recipient } => json!(["m", id, recipient]),
            Committed::State { key, version } => json!(["s", key, version]),
            Committed::Claim { path } => json!(["c", path]),
            Committed::Agent { name } => json!(["a", name]),
        };
        let len = item.to_string().len() + 1;
        if size + len > PAYLOAD_MAX && !batch.is_empty() {
            out.push(json!({"from": instance, "e": batch}).to_string());
            batch = Vec::new();
            size = 0;
        }
        if len > PAYLOAD_MAX {
            out.push(json!({"from": instance, "e": []}).to_string());
            continue;
        }
        size += len;
        batch.push(item);
    }
    if !batch.is_empty() {
        out.push(json!({"from": instance, "e": batch}).to_string());
    }
    out
}

/// What a payload announces, unless it is `instance`'s own: `Some(vec![])` asks every reader
/// to look again.
pub(super) fn parse(instance: &str, payload: &str) -> Option<Vec<Committed>> {
    let value: Value = match serde_json::from_str(payload) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "an unreadable notification on the bus channel");
            return Some(Vec::new());
        }
    };
    if value["from"] == instance {
        return None;
    }
    let events = value["e"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Some(
        events
            .iter()
            .filter_map(|e| {
                let kind = e[0].as_str()?;
                Some(match kind {
                    "m" => Committed::Message {
                        id: e[1].as_i64()?,
                        recipient: text(&e[2])?,
                    },
                    "s" => Committed::State {
                        key: text(&e[1])?,
                        version: e[2].as_i64()?,
                    },
                    "c" => Committed::Claim { path: text(&e[1])? },
                    "a" => Committed::Agent { name: text(&e[1])? },
                    _ => return None,
                })
            })
            .collect(),
    )
}

/// Listen for the other busd's commits for as long as busd runs, reconnecting (with a backoff
/// up to 5 s) whenever the connection is lost.
pub(super) async fn listen(target: Target, instance: String, listener: Box<dyn CommitListener>) {
    let server = target.server().to_owned();
    let mut backoff = Duration::from_millis(100);
    let mut lost = false;
    loop {
        match target.connect_async().await {
            Ok((client, mut heard)) => {
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        if lost {
                            tracing::info!(server, "the shared bus database is reachable again");
                        }
                        // Whatever committed while nobody listened: every reader looks again.
                        listener.missed();
                        backoff = Duration::from_millis(100);
                        while let Some(item) = heard.recv().await {
                            match item {
                                Ok(n) => {
                                    if let Some(events) = parse(&instance, n.payload()) {
                                        match events.is_empty() {
                                            true => listener.missed(),
                                            false => listener.committed(&events),
                                        }
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!(server, error = %e, "the shared bus database is unreachable; retrying");
                                    break;
                                }
                            }
                        }
                        drop(client);
                    }
                    Err(e) => tracing::warn!(
                        server,
                        error = %e,
                        "cannot LISTEN for the other machines' commits: their mail wakes no reader here until it works (every reader looks again then); retrying"
                    ),
                }
            }
            Err(e) => {
                if !lost {
                    tracing::warn!(
                        "the shared bus database at {server} is unreachable: {e}; retrying"
                    );
                }
            }
        }
        lost = true;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_split_under_the_limit_and_skip_their_own() {
        let events: Vec<Committed> = (0..400)
            .map(|id| Committed::Message {
                id,
                recipient: format!("agent-with-a-long-name-{id}"),
            })
            .chain([
                Committed::State {
                    key: "k\"ey".into(),
                    version: 3,
                },
                Committed::Claim {
                    path: "src/**".into(),
                },
                Committed::Agent { name: "bob".into() },
            ])
            .collect();
        let payloads = payloads("a1", &events);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8000));
        let back: Vec<Committed> = payloads
            .iter()
            .flat_map(|p| parse("b2", p).unwrap())
            .collect();
        assert_eq!(back, events);
        assert_eq!(parse("a1", &payloads[0]), None);
        assert_eq!(parse("b2", "not json"), Some(vec![]));
    }
}
