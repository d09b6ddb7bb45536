//! Scenario 8 — idle cost: CPU time of busd and of 10 sessions waiting for mail, over idle
//! seconds.
//!
//! A server whose `inbox` cannot wait is measured the way its sessions listen: polling
//! `inbox` 10 times a second.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::Ctx;
use crate::fixture::{self};
use crate::mcp::{Server, Session};
use crate::procs;
use crate::report::{self, Figure, Report, Target, Value};
use crate::stats::ms;

const SECTION: &str = "8 idle";
const SESSIONS: usize = 10;

struct Idle {
    busd: Option<Duration>,
    sessions: Duration,
    parked: Option<u64>,
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let span = ctx
        .opts
        .pick(Duration::from_secs(2), Duration::from_secs(10));
    let ours = report::ours(report, "idle", measure(ctx, &ctx.ours, span).await);
    let theirs = match &ctx.theirs {
        Some(server) => Some(measure(ctx, server, span).await),
        None => None,
    };
    let secs = span.as_secs();
    report.add(
        Figure::ms(SECTION, format!("busd CPU time over {secs} s idle"))
            .target(Target::at_most(10.0))
            .ours(report::value(&ours, |i| match i.busd {
                Some(d) => ms(d).into(),
                None => Value::Missing("no busd".into()),
            })),
    );
    report.add(
        Figure::ms(
            SECTION,
            format!("{SESSIONS} waiting sessions' CPU time over {secs} s"),
        )
        .target(Target::at_most(10.0))
        .ours(report::value(&ours, |i| ms(i.sessions).into()))
        .theirs(report::theirs(&theirs, |i| ms(i.sessions).into())),
    );
    if let Some(i) = &ours {
        report.note(format!(
            "idle: CPU time counts in 10 ms clock ticks; busd reported {}/{SESSIONS} sessions \
             parked in inbox(wait)",
            i.parked.unwrap_or(0)
        ));
    }
    if let Some(server) = ctx.theirs.as_ref().filter(|s| !s.inbox_wait) {
        report.note(format!(
            "idle, {}: its inbox cannot wait, so its listening sessions poll inbox 10 times a \
             second",
            server.label
        ));
    }
}

async fn measure(ctx: &Ctx, server: &Server, span: Duration) -> anyhow::Result<Idle> {
    let mut bus = fixture::temp_bus(&ctx.bins.busd)?;
    if server.is_ours() {
        bus.try_spawn(&[]).await?;
    }
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        sessions.push(Arc::new(
            Session::named(server, &bus, &format!("i{i}")).await?,
        ));
    }
    let pids: Vec<u32> = sessions.iter().map(|s| s.pid).collect();
    let stop = tokio_util::sync::CancellationToken::new();
    let listeners: Vec<_> = sessions
        .iter()
        .map(|s| {
            let (s, stop, wait) = (s.clone(), stop.clone(), server.inbox_wait);
            tokio::spawn(async move {
                if wait {
                    return s.call("inbox", json!({ "wait": 3600 })).await.map(|_| ());
                }
                let mut ticks = tokio::time::interval(Duration::from_millis(100));
                while !stop.is_cancelled() {
                    ticks.tick().await;
                    s.call("inbox", json!({})).await?;
                }
                Ok(())
            })
        })
        .collect();
    // Let every listener settle into its wait (or its polling rhythm).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busd_pid = bus.busd_pid().filter(|_| server.is_ours());
    let parked = match server.is_ours() {
        true => Some(fixture::status(&bus.client()).await?.waiting),
        false => None,
    };
    let busd0 = busd_pid.and_then(procs::cpu_time);
    let sessions0 = procs::cpu_total(&pids);
    tokio::time::sleep(span).await;
    let busd = busd_pid
        .and_then(procs::cpu_time)
        .zip(busd0)
        .map(|(b1, b0)| b1 - b0);
    let sessions_cpu = procs::cpu_total(&pids) - sessions0;
    // End the waits: a broadcast wakes them all; pollers stop.
    stop.cancel();
    if server.inbox_wait {
        let caster = Session::named(server, &bus, "caster").await?;
        caster
            .call("send", json!({ "to": "all", "content": "done" }))
            .await?;
        caster.close().await;
    }
    for listener in listeners {
        listener.await??;
    }
    for s in sessions {
        if let Ok(s) = Arc::try_unwrap(s) {
            s.close().await;
        }
    }
    Ok(Idle {
        busd,
        sessions: sessions_cpu,
        parked,
    })
}
