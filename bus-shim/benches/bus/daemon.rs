//! Scenario 4 — daemon throughput without MCP in the way: durable sends per second straight
//! over the socket, from 1, 8 and 64 concurrent clients (each with one send in flight).

use std::time::{Duration, Instant};

use proto::client::call;

use crate::Ctx;
use crate::fixture::{self, Layout};
use crate::procs;
use crate::report::{self, Better, Figure, Report, Target, Unit};

const SECTION: &str = "4 daemon sends";

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let counts: &[usize] = ctx.opts.pick(&[1, 8, 64], &[1, 2, 4, 8, 16, 32, 64]);
    let span = ctx
        .opts
        .pick(Duration::from_secs(1), Duration::from_secs(4));
    for &clients in counts {
        let run = report::ours(
            report,
            &format!("daemon sends, {clients} clients"),
            measure(ctx, Layout::Sqlite, clients, span).await,
        );
        if let Some(run) = &run {
            report.throughput.push((clients, run.per_sec));
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
                .ours(report::value(&run, |r| r.per_sec.into())),
            );
            report.add(
                Figure::new(SECTION, "  busd CPU per send", Unit::Us, Better::Lower)
                    .ours(report::value(&run, |r| r.busd_cpu_us.into())),
            );
            report.add(
                Figure::new(SECTION, "  client CPU per send", Unit::Us, Better::Lower)
                    .ours(report::value(&run, |r| r.client_cpu_us.into())),
            );
        }
    }
    report.note(format!(
        "daemon sends: each client registered, then sent 64-byte messages one at a time for \
         {span:?}; every send was acknowledged after its commit was synced"
    ));
}

pub struct Run {
    pub per_sec: f64,
    /// CPU time the busd spent per send, in µs.
    pub busd_cpu_us: f64,
    /// CPU time this process (the clients) spent per send, in µs.
    pub client_cpu_us: f64,
    /// CPU time the database server spent per send, in µs (PostgreSQL only).
    pub server_cpu_us: Option<f64>,
}

/// Sends per second from `clients` concurrent clients over `span`; on two busd, the clients
/// are dealt round the machines.
pub async fn measure(
    ctx: &Ctx,
    layout: Layout<'_>,
    clients: usize,
    span: Duration,
) -> anyhow::Result<Run> {
    let machines = layout.start(&ctx.bins.busd).await?;
    let mut sessions = Vec::new();
    for i in 0..clients {
        sessions.push(fixture::registered(machines.of(i), &format!("d{i}")).await?);
    }
    let content = "x".repeat(64);
    let (busd, server) = (machines.busd_pids(), layout.server_pids());
    let me = std::process::id();
    let cpu0 = (
        procs::cpu_total(&busd),
        procs::cpu_total(&server),
        procs::cpu_time(me),
    );
    let t0 = Instant::now();
    let deadline = t0 + span;
    let mut tasks = Vec::new();
    for client in sessions {
        let content = content.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while Instant::now() < deadline {
                let send = call::send("sink".into(), content.clone(), None);
                client.run(send).await?;
                sent += 1;
            }
            anyhow::Ok(sent)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    let elapsed = t0.elapsed();
    let per_send = |spent: Duration| spent.as_secs_f64() * 1e6 / total.max(1) as f64;
    let client_cpu_us = match (cpu0.2, procs::cpu_time(me)) {
        (Some(b), Some(a)) => per_send(a - b),
        _ => f64::NAN,
    };
    Ok(Run {
        per_sec: total as f64 / elapsed.as_secs_f64(),
        busd_cpu_us: per_send(procs::cpu_total(&busd).saturating_sub(cpu0.0)),
        client_cpu_us,
        server_cpu_us: (!server.is_empty())
            .then(|| per_send(procs::cpu_total(&server).saturating_sub(cpu0.1))),
    })
}
