//! Scenario 1 — call latency through a real MCP stdio server: whoami, send, inbox(peek),
//! set_state, get_state, each timed one after another from an MCP client (rmcp).

use std::time::{Duration, Instant};

use proto::{Request, StateMode};
use serde_json::{Value, json};

use crate::Ctx;
use crate::fixture::{self, Layout};
use crate::mcp::{Server, Session};
use crate::procs;
use crate::report::{self, Better, Figure, Report, Target, Unit, Value as Cell};
use crate::stats::Samples;

const SECTION: &str = "1 calls";

pub struct Calls {
    pub tools: Vec<(&'static str, Samples)>,
    /// CPU time per call of the calling session's server process, in µs.
    server_cpu_us: Option<f64>,
    /// CPU time per call of busd, in µs.
    busd_cpu_us: Option<f64>,
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let ours = report::ours(report, "calls", measure(ctx, &ctx.ours).await);
    let theirs = match &ctx.theirs {
        Some(server) => Some(measure(ctx, server).await),
        None => None,
    };
    // The targets for p50; the other figures are shown without one.
    let target = |tool: &str| match tool {
        "send" => Target::at_most(0.4),
        "whoami" | "inbox(peek)" => Target::at_most(0.15),
        _ => None,
    };
    for tool in ["whoami", "send", "inbox(peek)", "set_state", "get_state"] {
        let pick = |c: &Calls, p99: bool| {
            let s = &c.tools.iter().find(|(t, _)| *t == tool)?.1;
            if p99 { s.p99() } else { s.p50() }
        };
        report.add(
            Figure::ms(SECTION, format!("{tool} p50"))
                .target(target(tool))
                .ours(report::value(&ours, |c| pick(c, false).into()))
                .theirs(report::theirs(&theirs, |c| pick(c, false).into())),
        );
        report.add(
            Figure::ms(SECTION, format!("{tool} p99"))
                .ours(report::value(&ours, |c| pick(c, true).into()))
                .theirs(report::theirs(&theirs, |c| pick(c, true).into())),
        );
    }
    let server_cpu = |c: &Calls| -> Cell { c.server_cpu_us.into() };
    report.add(
        Figure::new(
            SECTION,
            "server CPU per call (the shim)",
            Unit::Us,
            Better::Lower,
        )
        .ours(report::value(&ours, server_cpu))
        .theirs(report::theirs(&theirs, server_cpu)),
    );
    report.add(
        Figure::new(SECTION, "busd CPU per call", Unit::Us, Better::Lower)
            .ours(report::value(&ours, |c| c.busd_cpu_us.into())),
    );
    // The same requests straight over the socket: what MCP and the shim add.
    let socket = report::ours(
        report,
        "calls over the socket",
        over_socket(ctx, Layout::Sqlite).await,
    );
    for tool in ["whoami", "send", "inbox(peek)", "set_state", "get_state"] {
        report.add(
            Figure::ms(SECTION, format!("{tool} p50 over the socket (no MCP)")).ours(
                report::value(&socket, |c| {
                    c.tools
                        .iter()
                        .find(|(t, _)| *t == tool)
                        .and_then(|(_, s)| s.p50())
                        .into()
                }),
            ),
        );
    }
}

/// The same calls from a protocol-level client, without MCP and the shim; on two busd, the
/// caller `a` is on the first machine and `b` on the second.
pub async fn over_socket(ctx: &Ctx, layout: Layout<'_>) -> anyhow::Result<Calls> {
    let machines = layout.start(&ctx.bins.busd).await?;
    let a = fixture::registered(machines.of(0), "a").await?;
    let b = fixture::registered(machines.of(1), "b").await?;
    let send = |to: &str, content: &str| Request::Send {
        to: to.into(),
        content: content.into(),
        reply_to: None,
    };
    b.call(send("a", "hello")).await?;
    let content = "x".repeat(100);
    let set = Request::SetState {
        key: "bench.k".into(),
        value: content.clone(),
        expected_version: None,
        mode: StateMode::Overwrite,
    };
    a.call(set.clone()).await?;
    let cases = [
        ("whoami", Request::Whoami),
        (
            "inbox(peek)",
            Request::Inbox {
                consume: false,
                limit: 100,
                wait: 0.0,
                waiter: None,
            },
        ),
        (
            "get_state",
            Request::GetState {
                key: Some("bench.k".into()),
            },
        ),
        ("set_state", set),
        ("send", send("b", &content)),
    ];
    let n = ctx.opts.pick(200, 2000);
    let mut tools = Vec::new();
    for (label, request) in cases {
        for _ in 0..n / 10 {
            a.call(request.clone()).await?;
        }
        let mut samples = Samples::new();
        for _ in 0..n {
            let t0 = Instant::now();
            a.call(request.clone()).await?;
            samples.push(t0.elapsed());
        }
        tools.push((label, samples));
    }
    Ok(Calls {
        tools,
        server_cpu_us: None,
        busd_cpu_us: None,
    })
}

impl Calls {
    /// The `q` quantile of `tool`'s latency, in milliseconds.
    pub fn quantile_ms(&self, tool: &str, q: f64) -> Option<f64> {
        let (_, samples) = self.tools.iter().find(|(t, _)| *t == tool)?;
        samples.quantile_ms(q)
    }
}

async fn measure(ctx: &Ctx, server: &Server) -> anyhow::Result<Calls> {
    let mut bus = fixture::temp_bus(&ctx.bins.busd)?;
    if server.is_ours() {
        bus.try_spawn(&[]).await?;
    }
    let a = Session::named(server, &bus, "a").await?;
    let b = Session::named(server, &bus, "b").await?;
    b.call("send", json!({ "to": "a", "content": "hello" }))
        .await?;
    a.call("set_state", json!({ "key": "bench.k", "value": "v" }))
        .await?;
    let content = "x".repeat(100);
    let cases: [(&'static str, &str, Value); 5] = [
        ("whoami", "whoami", json!({})),
        ("inbox(peek)", "inbox", json!({ "peek": true })),
        ("get_state", "get_state", json!({ "key": "bench.k" })),
        (
            "set_state",
            "set_state",
            json!({ "key": "bench.k", "value": content }),
        ),
        ("send", "send", json!({ "to": "b", "content": content })),
    ];
    let n = ctx.opts.pick(200, 2000);
    let mut tools = Vec::new();
    let busd = bus.busd_pid().filter(|_| server.is_ours());
    let cpu0 = (procs::cpu_time(a.pid), busd.and_then(procs::cpu_time));
    for (label, tool, args) in cases {
        for _ in 0..n / 10 {
            a.call(tool, args.clone()).await?;
        }
        let mut samples = Samples::new();
        for _ in 0..n {
            let t0 = Instant::now();
            a.call(tool, args.clone()).await?;
            samples.push(t0.elapsed());
        }
        tools.push((label, samples));
    }
    let calls = (5 * (n + n / 10)) as f64;
    let per_call = |before: Option<Duration>, after: Option<Duration>| {
        Some((after? - before?).as_secs_f64() * 1e6 / calls)
    };
    let server_cpu_us = per_call(cpu0.0, procs::cpu_time(a.pid));
    let busd_cpu_us = per_call(cpu0.1, busd.and_then(procs::cpu_time));
    a.close().await;
    b.close().await;
    Ok(Calls {
        tools,
        server_cpu_us,
        busd_cpu_us,
    })
}
