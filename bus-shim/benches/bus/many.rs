//! Scenario 6 — many sessions: N shims (and N protocol-level clients) connected and all
//! waiting; the time one broadcast takes to wake every one of them; resident memory of busd
//! and of the shims.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use proto::client::call;
use serde_json::json;

use crate::Ctx;
use crate::fixture::{self};
use crate::mcp::{Server, Session, inbox_contents};
use crate::procs;
use crate::report::{self, Better, Figure, Report, Target, Unit, Value};
use crate::stats::Samples;

const SECTION: &str = "6 many sessions";
const MB: f64 = 1024.0 * 1024.0;

struct Many {
    /// Wake latency of every waiter (none when the server's inbox cannot wait).
    woken: Option<Samples>,
    /// How many waiters busd reported parked before the broadcast.
    parked: Option<u64>,
    session_rss: Rss,
    busd_rss: Option<f64>,
}

/// Median and largest resident memory of the sessions, and the median of what each holds
/// alone, in MB.
struct Rss {
    median: f64,
    max: f64,
    private: f64,
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let n = ctx.opts.pick(20, 100);
    let ours = report::ours(report, "many shims", shims(ctx, &ctx.ours, n).await);
    let theirs_n = ctx.opts.pick(3, 10);
    let theirs = match &ctx.theirs {
        Some(server) => Some(shims(ctx, server, theirs_n).await),
        None => None,
    };
    let all_woken = |m: &Many| match &m.woken {
        Some(s) => s.max().into(),
        None => Value::Missing("n/a (cannot wait)".into()),
    };
    report.add(
        Figure::ms(
            SECTION,
            format!("broadcast wakes {n} waiting shims: all woken"),
        )
        .target(Target::at_most(10.0))
        .ours(report::value(&ours, all_woken))
        .theirs(report::theirs(&theirs, all_woken)),
    );
    report.add(
        Figure::new(
            SECTION,
            "shim resident memory (median)",
            Unit::Mb,
            Better::Lower,
        )
        .target(Target::at_most(8.0))
        .ours(report::value(&ours, |m| m.session_rss.median.into()))
        .theirs(report::theirs(&theirs, |m| m.session_rss.median.into())),
    );
    report.add(
        Figure::new(
            SECTION,
            "shim resident memory (largest)",
            Unit::Mb,
            Better::Lower,
        )
        .ours(report::value(&ours, |m| m.session_rss.max.into()))
        .theirs(report::theirs(&theirs, |m| m.session_rss.max.into())),
    );
    report.add(
        Figure::new(
            SECTION,
            "shim memory of its own (median; text shared)",
            Unit::Mb,
            Better::Lower,
        )
        .ours(report::value(&ours, |m| m.session_rss.private.into()))
        .theirs(report::theirs(&theirs, |m| m.session_rss.private.into())),
    );
    report.add(
        Figure::new(
            SECTION,
            format!("busd memory with {n} shims"),
            Unit::Mb,
            Better::Lower,
        )
        .ours(report::value(&ours, |m| m.busd_rss.into())),
    );
    if let Some(m) = &ours {
        report.note(format!(
            "many sessions: busd reported {}/{n} shims parked before the broadcast",
            m.parked.unwrap_or(0)
        ));
    }
    if ctx.theirs.is_some() {
        report.note(format!(
            "many sessions, compared server: {theirs_n} sessions (memory per session does not \
             depend on how many run)"
        ));
    }

    // busd serves at most 500 connections (docs/SPEC.md); the sender and the probe take two.
    let clients = ctx.opts.pick(200, 480);
    let proto_clients = report::ours(report, "many clients", waiting_clients(ctx, clients).await);
    report.add(
        Figure::ms(
            SECTION,
            format!(
                "broadcast wakes {} protocol clients: all woken",
                report::thousands(clients as f64)
            ),
        )
        .ours(report::value(&proto_clients, |m| {
            m.woken.as_ref().and_then(Samples::max).into()
        })),
    );
    report.add(
        Figure::new(
            SECTION,
            format!(
                "busd memory with {} clients",
                report::thousands(clients as f64)
            ),
            Unit::Mb,
            Better::Lower,
        )
        .target(Target::at_most(50.0))
        .ours(report::value(&proto_clients, |m| m.busd_rss.into())),
    );
    if let Some(m) = &proto_clients {
        report.note(format!(
            "many clients: busd reported {}/{clients} clients parked before the broadcast",
            m.parked.unwrap_or(0)
        ));
    }
}

/// `n` sessions of `server`, all waiting in `inbox(wait)`; one broadcast.
async fn shims(ctx: &Ctx, server: &Server, n: usize) -> anyhow::Result<Many> {
    let mut bus = fixture::temp_bus(&ctx.bins.busd)?;
    if server.is_ours() {
        bus.try_spawn(&[]).await?;
    }
    let mut sessions = Vec::new();
    for i in 0..n {
        sessions.push(Arc::new(
            Session::named(server, &bus, &format!("m{i}")).await?,
        ));
    }
    let caster = Session::named(server, &bus, "caster").await?;
    let rss = |sessions: &[Arc<Session>]| {
        let sorted = |read: fn(u32) -> Option<u64>| {
            let mut all: Vec<f64> = sessions
                .iter()
                .filter_map(|s| read(s.pid))
                .map(|b| b as f64 / MB)
                .collect();
            all.sort_by(f64::total_cmp);
            all
        };
        let all = sorted(procs::rss_bytes);
        let private = sorted(procs::private_bytes);
        Rss {
            median: all.get(all.len() / 2).copied().unwrap_or(0.0),
            max: all.last().copied().unwrap_or(0.0),
            private: private.get(private.len() / 2).copied().unwrap_or(0.0),
        }
    };
    if !server.inbox_wait {
        let session_rss = rss(&sessions);
        for s in sessions {
            if let Ok(s) = Arc::try_unwrap(s) {
                s.close().await;
            }
        }
        return Ok(Many {
            woken: None,
            parked: None,
            session_rss,
            busd_rss: None,
        });
    }
    let waits: Vec<_> = sessions
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move {
                let page = s.call("inbox", json!({ "wait": 60 })).await;
                (page, Instant::now())
            })
        })
        .collect();
    let probe = bus.client();
    tokio::time::sleep(
        ctx.opts
            .pick(Duration::from_millis(300), Duration::from_secs(1)),
    )
    .await;
    let parked = match server.is_ours() {
        true => Some(fixture::status(&probe).await?.waiting),
        false => None,
    };
    let session_rss = rss(&sessions);
    let busd_rss = bus
        .busd_pid()
        .filter(|_| server.is_ours())
        .and_then(procs::rss_bytes)
        .map(|b| b as f64 / MB);
    let t0 = Instant::now();
    caster
        .call("send", json!({ "to": "all", "content": "wake up" }))
        .await?;
    let mut woken = Samples::new();
    for wait in waits {
        let (page, t1) = wait.await?;
        let (messages, _) = inbox_contents(&page?);
        if messages != ["wake up"] {
            bail!("a woken session got {messages:?}");
        }
        woken.push(t1 - t0);
    }
    for s in sessions {
        if let Ok(s) = Arc::try_unwrap(s) {
            s.close().await;
        }
    }
    caster.close().await;
    Ok(Many {
        woken: Some(woken),
        parked,
        session_rss,
        busd_rss,
    })
}

/// `n` protocol-level clients, all waiting for mail; one broadcast.
async fn waiting_clients(ctx: &Ctx, n: usize) -> anyhow::Result<Many> {
    let bus = fixture::started(&ctx.bins.busd).await?;
    let caster = fixture::registered(&bus, "caster").await?;
    let mut clients = Vec::new();
    for i in 0..n {
        clients.push(fixture::registered(&bus, &format!("p{i}")).await?);
    }
    let waits: Vec<_> = clients
        .into_iter()
        .map(|client| {
            tokio::spawn(async move {
                let page = client.run(call::inbox(true, 100, 60.0, None)).await;
                (page, Instant::now(), client)
            })
        })
        .collect();
    tokio::time::sleep(
        ctx.opts
            .pick(Duration::from_millis(500), Duration::from_secs(2)),
    )
    .await;
    let parked = fixture::status(&caster).await?.waiting;
    let busd_rss = bus
        .busd_pid()
        .and_then(procs::rss_bytes)
        .map(|b| b as f64 / MB);
    let t0 = Instant::now();
    caster
        .run(call::send("all".into(), "wake up".into(), None))
        .await?;
    let mut woken = Samples::new();
    for wait in waits {
        let (page, t1, _client) = wait.await?;
        match page? {
            page if page.messages.len() == 1 => woken.push(t1 - t0),
            other => bail!("a woken client got {other:?}"),
        }
    }
    Ok(Many {
        woken: Some(woken),
        parked: Some(parked),
        session_rss: Rss {
            median: 0.0,
            max: 0.0,
            private: 0.0,
        },
        busd_rss,
    })
}
