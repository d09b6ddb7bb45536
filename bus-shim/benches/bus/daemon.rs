//! Scenario 4 — daemon throughput without MCP in the way: durable sends per second straight
//! over the socket, from 1, 8 and 64 concurrent clients (each with one send in flight).

use std::time::{Duration, Instant};

use anyhow::bail;
use proto::{Request, Response};

use crate::Ctx;
use crate::fixture::TempBus;
use crate::report::{self, Better, Figure, Report, Target, Unit};

const SECTION: &str = "4 daemon sends";

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let counts: &[usize] = ctx.opts.pick(&[1, 8, 64], &[1, 2, 4, 8, 16, 32, 64]);
    let span = ctx
        .opts
        .pick(Duration::from_secs(1), Duration::from_secs(4));
    for &clients in counts {
        let rate = report::ours(
            report,
            &format!("daemon sends, {clients} clients"),
            measure(ctx, clients, span).await,
        );
        if let Some(rate) = rate {
            report.throughput.push((clients, rate));
        }
        if [1, 8, 64].contains(&clients) {
            let target = if clients == 64 {
                Target::at_least(50_000.0)
            } else {
                None
            };
            report.add(
                Figure::new(
                    SECTION,
                    format!(
                        "{clients} client{}, sends/s",
                        if clients == 1 { "" } else { "s" }
                    ),
                    Unit::PerSec,
                    Better::Higher,
                )
                .target(target)
                .ours(report::value(&rate, |r| (*r).into())),
            );
        }
    }
    report.note(format!(
        "daemon sends: each client registered, then sent 64-byte messages one at a time for \
         {span:?}; every send was acknowledged after its commit was synced"
    ));
}

/// Sends per second from `clients` concurrent clients over `span`.
async fn measure(ctx: &Ctx, clients: usize, span: Duration) -> anyhow::Result<f64> {
    let bus = TempBus::started(&ctx.bins.busd).await?;
    let mut sessions = Vec::new();
    for i in 0..clients {
        sessions.push(bus.session(&format!("d{i}")).await?);
    }
    let content = "x".repeat(64);
    let t0 = Instant::now();
    let deadline = t0 + span;
    let mut tasks = Vec::new();
    for client in sessions {
        let content = content.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while Instant::now() < deadline {
                let request = Request::Send {
                    to: "sink".into(),
                    content: content.clone(),
                    reply_to: None,
                };
                match client.call(request).await? {
                    Response::Sent(_) => sent += 1,
                    other => bail!("send answered {other:?}"),
                }
            }
            anyhow::Ok(sent)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / t0.elapsed().as_secs_f64())
}
