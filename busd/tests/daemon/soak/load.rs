//! Load: many protocol-level clients, each sending to a random other and waiting for its own
//! mail, for the scenario's length. Nothing may fail, be lost or be doubled; the latency of
//! sends (p99) is reported, and busd's memory at the start (after warm-up), middle and end.

use std::sync::Arc;
use std::time::Instant;

use proto::client::Client;
use proto::{Request, Response};
use tokio_util::sync::CancellationToken;

use super::ledger::{Ledger, Row};
use super::{Rng, Settings};
use crate::common::*;
use crate::probe::rss_kib;

pub async fn run(settings: &Settings) -> (Row, String) {
    let mut row = Row::new(&format!("load: {} clients", settings.clients));
    let bus = TempBus::start().await;
    let names: Vec<String> = (0..settings.clients).map(|i| format!("load-{i}")).collect();
    let mut clients = Vec::new();
    for name in &names {
        let client = bus.connected().await;
        if let Err(e) = register(&client, name).await {
            row.error(format!("{name} could not register: {e}"));
            return (row, String::new());
        }
        clients.push(client);
    }
    let ledger = Arc::new(Ledger::default());
    let stop = CancellationToken::new();
    let names = Arc::new(names);
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, client)| {
            tokio::spawn(client_loop(
                client.clone(),
                i,
                names.clone(),
                ledger.clone(),
                stop.clone(),
                Rng::new(settings.seed ^ (1000 + i as u64)),
            ))
        })
        .collect();

    // Memory after a warm-up tenth, at the middle and at the end of the run.
    let pid = bus.pid();
    let tenth = settings.duration / 10;
    tokio::time::sleep(tenth).await;
    let start = rss_kib(pid);
    tokio::time::sleep(settings.duration / 2 - tenth).await;
    let middle = rss_kib(pid);
    tokio::time::sleep(settings.duration / 2).await;
    let end = rss_kib(pid);
    stop.cancel();
    for t in tasks {
        let r = t.await.unwrap();
        row.operations += r.operations;
        row.errors += r.errors;
        row.latencies.extend(r.latencies);
        for n in r.notes {
            row.note(n);
        }
    }
    // What is still unread after the last round.
    for (client, name) in clients.iter().zip(names.iter()) {
        loop {
            let page = consume(client, 1000, 0.0).await;
            for m in &page.messages {
                ledger.got(name, m.id, m.content.clone());
            }
            if page.messages.is_empty() {
                break;
            }
        }
    }
    ledger.settle(&names, &mut row);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let memory = format!(
        "busd memory (VmRSS) under load: {:.1} MiB after warm-up, {:.1} MiB at the middle, {:.1} MiB at the end",
        mib(start),
        mib(middle),
        mib(end)
    );
    // Flat: what the second half added is small next to what busd holds.
    if end > middle + middle / 4 + 8 * 1024 {
        row.error(format!("busd memory grew in the second half: {memory}"));
    }
    drop(clients);
    (row, memory)
}

/// Send to a random other client, then take this client's mail (waiting briefly for it).
async fn client_loop(
    client: Client,
    i: usize,
    names: Arc<Vec<String>>,
    ledger: Arc<Ledger>,
    stop: CancellationToken,
    mut rng: Rng,
) -> Row {
    let mut row = Row::default();
    let me = &names[i];
    let mut seq = 0u64;
    while !stop.is_cancelled() {
        seq += 1;
        let mut to = rng.below(names.len() as u64 - 1) as usize;
        if to >= i {
            to += 1;
        }
        let token = format!("{me}:{seq}");
        let started = Instant::now();
        let sent = client
            .call(Request::Send {
                to: names[to].clone(),
                content: token.clone(),
                reply_to: None,
            })
            .await;
        row.latencies.push(started.elapsed());
        row.operations += 1;
        match sent {
            Ok(Response::Sent(s)) => ledger.sent(me, &names[to], token, Some(s.id)),
            other => {
                ledger.sent(me, &names[to], token, None);
                row.error(format!("{me}: send failed: {other:?}"));
            }
        }
        let inbox = Request::Inbox {
            consume: true,
            limit: 100,
            wait: 0.2,
            waiter: None,
        };
        let page = client.call(inbox).await;
        row.operations += 1;
        match page {
            Ok(Response::Inbox(page)) => {
                for m in page.messages {
                    ledger.got(me, m.id, m.content);
                }
            }
            other => row.error(format!("{me}: inbox failed: {other:?}")),
        }
    }
    row
}
