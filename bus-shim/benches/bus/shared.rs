//! Scenario 10 — a bus shared by two busd ("machine-a", "machine-b") on one loopback
//! PostgreSQL, beside one SQLite busd measured by the same code in the same run: send latency
//! over the socket, wake across busd, 8 sessions sending and draining (checked exactly once)
//! and durable sends from 1, 8 and 64 clients dealt round the busd.
//!
//! Skipped, saying so, without PostgreSQL here (no `initdb`); with `BUS_PG_REQUIRE=1` (CI)
//! that is a failure instead.

use std::time::Duration;

use testkit::postgres::Cluster;

use crate::Ctx;
use crate::fixture::Layout;
use crate::report::{self, Better, Figure, Report, Target, Unit, Value};
use crate::{calls, daemon, throughput, wake};

const SECTION: &str = "10 shared";
/// The targets for the shared bus on this 2-core machine.
const WAKE_P50_MS: f64 = 3.0;
const SEND_DRAIN_PER_SEC: f64 = 2000.0;
const SENDS_64_PER_SEC: f64 = 10_000.0;

pub async fn run(ctx: &Ctx, report: &mut Report) {
    // A cluster of its own, gone at the end of the scenario; `start_new` panics when
    // BUS_PG_REQUIRE=1 and PostgreSQL is missing, or when the server does not start.
    let cluster = match std::panic::catch_unwind(Cluster::start_new) {
        Ok(Some(cluster)) => cluster,
        Ok(None) => {
            report.note("shared: skipped, no PostgreSQL here (the line above says why)");
            return;
        }
        Err(_) => {
            report.fail("shared: PostgreSQL did not start (the panic above says why)");
            return;
        }
    };
    let layouts = [Layout::Sqlite, Layout::Shared(&cluster)];
    latency(ctx, report, &layouts).await;
    wakes(ctx, report, &layouts).await;
    send_drain(ctx, report, &layouts).await;
    sends(ctx, report, &layouts).await;
    let version = cluster
        .query_text("postgres", "SHOW server_version")
        .first()
        .and_then(|row| row.first().cloned())
        .unwrap_or_default();
    report.note(format!(
        "shared: two busd (--host machine-a, machine-b: their own socket folders) on one fresh \
         database of a throwaway PostgreSQL {version} on 127.0.0.1 (fsync and \
         synchronous_commit on, as installed), beside one busd on SQLite; every row measured \
         by the same code on both"
    ));
}

/// One row per layout: `value` of that layout's measurement, the target on the shared one.
fn rows<M>(
    report: &mut Report,
    name: &str,
    unit: Unit,
    better: Better,
    target: Option<Target>,
    measured: &[(Layout<'_>, Option<M>)],
    value: impl Fn(&M) -> Value,
) {
    for (layout, m) in measured {
        let target = match layout {
            Layout::Sqlite => None,
            Layout::Shared(_) => target,
        };
        report.add(
            Figure::new(SECTION, format!("{name}, {}", layout.label()), unit, better)
                .target(target)
                .ours(report::value(m, &value)),
        );
    }
}

/// Send latency from a protocol client, the addressee on the other busd.
async fn latency(ctx: &Ctx, report: &mut Report, layouts: &[Layout<'_>]) {
    let mut measured = Vec::new();
    for &layout in layouts {
        let what = format!("shared: calls over the socket, {}", layout.label());
        let calls = report::ours(report, &what, calls::over_socket(ctx, layout).await);
        measured.push((layout, calls));
    }
    for (name, q) in [("send p50 over the socket", 0.5), ("send p99", 0.99)] {
        rows(
            report,
            name,
            Unit::Ms,
            Better::Lower,
            None,
            &measured,
            |c| c.quantile_ms("send", q).into(),
        );
    }
    rows(
        report,
        "set_state p50",
        Unit::Ms,
        Better::Lower,
        None,
        &measured,
        |c| c.quantile_ms("set_state", 0.5).into(),
    );
}

/// A reader waiting in `inbox(wait)` on machine-b, woken by a send through machine-a.
async fn wakes(ctx: &Ctx, report: &mut Report, layouts: &[Layout<'_>]) {
    let mut measured = Vec::new();
    for &layout in layouts {
        let what = format!("shared: wake, {}", layout.label());
        let wake = report::ours(report, &what, wake::ours_on(ctx, layout).await);
        if let Some(w) = &wake {
            report.note(format!(
                "shared: wake, {}: {} samples ({} dropped: the reader was not parked yet)",
                layout.label(),
                w.wake.len(),
                w.not_parked
            ));
        }
        measured.push((layout, wake));
    }
    let p50 = Target::at_most(WAKE_P50_MS);
    rows(
        report,
        "wake p50 across busd",
        Unit::Ms,
        Better::Lower,
        p50,
        &measured,
        |w| w.wake.p50().into(),
    );
    rows(
        report,
        "wake p99",
        Unit::Ms,
        Better::Lower,
        None,
        &measured,
        |w| w.wake.p99().into(),
    );
}

/// 8 MCP sessions dealt round the busd, sending and draining; lost or duplicated mail fails.
async fn send_drain(ctx: &Ctx, report: &mut Report, layouts: &[Layout<'_>]) {
    let per_session = ctx.opts.pick(100, 1000);
    let mut measured = Vec::new();
    for &layout in layouts {
        let what = format!("shared: send+drain, {}", layout.label());
        let run = throughput::ours_on(ctx, layout, per_session).await;
        let run = report::ours(report, &what, run);
        if let Some(t) = &run {
            t.check(report, &what);
        }
        measured.push((layout, run));
    }
    let target = Target::at_least(SEND_DRAIN_PER_SEC);
    let name = format!("{} sessions send+drain, msgs/s", throughput::SESSIONS);
    rows(
        report,
        &name,
        Unit::PerSec,
        Better::Higher,
        target,
        &measured,
        |t| t.per_sec.into(),
    );
    let zero = Target::at_most(0.0);
    rows(
        report,
        "  lost",
        Unit::Count,
        Better::Lower,
        zero,
        &measured,
        |t| (t.lost as f64).into(),
    );
    rows(
        report,
        "  duplicated",
        Unit::Count,
        Better::Lower,
        zero,
        &measured,
        |t| (t.duplicated as f64).into(),
    );
    report.note(format!(
        "shared: send+drain: {} sessions × {per_session} messages (1 in 8 a broadcast), each \
         delivery checked exactly once",
        throughput::SESSIONS
    ));
}

/// Durable sends per second from protocol clients dealt round the busd.
async fn sends(ctx: &Ctx, report: &mut Report, layouts: &[Layout<'_>]) {
    let span = ctx
        .opts
        .pick(Duration::from_millis(500), Duration::from_secs(3));
    for clients in [1, 8, 64] {
        let mut measured = Vec::new();
        for &layout in layouts {
            let what = format!("shared: sends, {clients} clients, {}", layout.label());
            let run = daemon::measure(ctx, layout, clients, span).await;
            measured.push((layout, report::ours(report, &what, run)));
        }
        let target = if clients == 64 {
            Target::at_least(SENDS_64_PER_SEC)
        } else {
            None
        };
        let plural = if clients == 1 { "" } else { "s" };
        let name = format!("{clients} client{plural}, sends/s");
        rows(
            report,
            &name,
            Unit::PerSec,
            Better::Higher,
            target,
            &measured,
            |r| r.per_sec.into(),
        );
        rows(
            report,
            "  busd CPU per send (all busd)",
            Unit::Us,
            Better::Lower,
            None,
            &measured,
            |r| r.busd_cpu_us.into(),
        );
        let shared: Vec<_> = measured
            .into_iter()
            .filter(|(l, _)| matches!(l, Layout::Shared(_)))
            .collect();
        rows(
            report,
            "  PostgreSQL CPU per send",
            Unit::Us,
            Better::Lower,
            None,
            &shared,
            |r| r.server_cpu_us.into(),
        );
    }
    report.note(format!(
        "shared: sends: each client registered, then sent 64-byte messages one at a time for \
         {span:?}, acknowledged once durable; PostgreSQL's CPU is that of every process \
         pg_stat_activity lists (backends, WAL writer, checkpointer)"
    ));
}
