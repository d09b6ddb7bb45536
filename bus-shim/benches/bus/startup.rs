//! Scenario 7 — start-up: spawn the MCP server → `tools/list` answered, and → first tool
//! call answered, with busd already running and without (then the shim starts busd itself).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::Ctx;
use crate::fixture::{self};
use crate::mcp::{Server, Session};
use crate::procs;
use crate::report::{self, Figure, Report, Target, Value};
use crate::stats::Samples;

const SECTION: &str = "7 start-up";

#[derive(Default)]
struct Startup {
    listed: Samples,
    first_call: Samples,
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let running = report::ours(report, "start-up", measure(ctx, &ctx.ours, true).await);
    let cold = report::ours(
        report,
        "start-up, no daemon",
        measure(ctx, &ctx.ours, false).await,
    );
    // The compared server has no daemon: each session stands alone.
    let theirs = match &ctx.theirs {
        Some(server) => Some(measure(ctx, server, true).await),
        None => None,
    };
    let p50 = |pick: fn(&Startup) -> &Samples| move |s: &Startup| -> Value { pick(s).p50().into() };
    fn listed(s: &Startup) -> &Samples {
        &s.listed
    }
    fn first(s: &Startup) -> &Samples {
        &s.first_call
    }
    report.add(
        Figure::ms(SECTION, "daemon running: tools/list answered p50")
            .target(Target::at_most(20.0))
            .ours(report::value(&running, p50(listed)))
            .theirs(report::theirs(&theirs, p50(listed))),
    );
    report.add(
        Figure::ms(SECTION, "daemon running: first call answered p50")
            .ours(report::value(&running, p50(first)))
            .theirs(report::theirs(&theirs, p50(first))),
    );
    report.add(
        Figure::ms(SECTION, "no daemon: tools/list answered p50")
            .ours(report::value(&cold, p50(listed)))
            .theirs(report::theirs(&theirs, p50(listed))),
    );
    report.add(
        Figure::ms(SECTION, "no daemon: first call answered p50 (starts busd)")
            .ours(report::value(&cold, p50(first)))
            .theirs(report::theirs(&theirs, p50(first))),
    );
    report.note(
        "start-up: from spawning the server to its answer (MCP initialize, then tools/list, \
         then whoami); the compared server has no daemon, so its figures repeat in both cases",
    );
}

async fn measure(ctx: &Ctx, server: &Server, daemon_running: bool) -> anyhow::Result<Startup> {
    let n = ctx.opts.pick(5, 20);
    let mut out = Startup::default();
    let mut shared = fixture::temp_bus(&ctx.bins.busd)?;
    if server.is_ours() && daemon_running {
        shared.try_spawn(&[]).await?;
    }
    // One round first, to warm the page cache.
    for i in 0..=n {
        let cold;
        let bus = if daemon_running {
            &shared
        } else {
            cold = fixture::temp_bus(&ctx.bins.busd)?;
            &cold
        };
        let t0 = Instant::now();
        let session = Session::spawn(server, bus, &[]).await?;
        session.client.list_all_tools().await?;
        let listed = t0.elapsed();
        session.call("whoami", json!({})).await?;
        let first_call = t0.elapsed();
        session.close().await;
        if i > 0 {
            out.listed.push(listed);
            out.first_call.push(first_call);
        }
        if !daemon_running && let Some(pid) = bus.busd_pid() {
            // The shim started this busd: stop it before the next round.
            procs::signal(pid, libc::SIGTERM);
            procs::wait_exit(pid, Duration::from_secs(10)).await;
        }
    }
    Ok(out)
}
