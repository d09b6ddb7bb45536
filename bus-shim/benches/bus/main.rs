//! The claude-bus benchmark: a command a person runs (not a timed test) that measures call and
//! wake latency, throughput with an exactly-once check, history scale, many sessions, start-up
//! and idle cost, the HTTP front beside stdio, and a bus shared by two busd on PostgreSQL
//! beside SQLite; it prints each figure beside its target, and with `--compare CMD` beside
//! the same figure of another MCP stdio server (the Python claude-bus 0.2).
//!
//! `cargo bench -p bus-shim --bench bus -- [--quick] [--compare CMD] [--out DIR]`
//! (`--help` for the rest). It fails only on errors and on lost or duplicated mail.

mod calls;
mod chart;
mod coord;
mod daemon;
mod figure;
mod fixture;
mod floor;
mod history;
mod http;
mod idle;
mod machine;
mod many;
mod mcp;
mod opts;
mod procs;
mod report;
mod shared;
mod startup;
mod stats;
mod throughput;
mod wake;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use fixture::Bins;
use mcp::Server;
use opts::Options;
use report::Report;

/// A safety net: a scenario still running after this has hung.
const SCENARIO_LIMIT: Duration = Duration::from_secs(20 * 60);

/// What every scenario needs.
pub struct Ctx {
    pub opts: Options,
    pub machine: machine::Machine,
    pub bins: Bins,
    pub ours: Server,
    pub theirs: Option<Server>,
}

fn main() -> ExitCode {
    if let Some(code) = floor::child() {
        return code;
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let opts = Options::parse()?;
    procs::raise_fd_limit();
    let bins = Bins::build(opts.build)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let theirs = match &opts.compare {
            Some(cmd) => {
                let probe = fixture::temp_bus(&bins.busd)?;
                Some(
                    Server::other(opts.compare_label.clone(), cmd.clone(), &probe)
                        .await
                        .with_context(|| format!("trying the --compare server `{cmd}`"))?,
                )
            }
            None => None,
        };
        let ctx = Ctx {
            machine: machine::Machine::probe(),
            ours: Server::ours(bins.shim.clone(), bins.busd.clone()),
            theirs,
            bins,
            opts,
        };
        println!("{}", ctx.machine.describe(ctx.opts.quick));
        let mut report = Report::default();
        for scenario in opts::SCENARIOS {
            if !ctx.opts.runs(scenario) {
                continue;
            }
            eprintln!("running {scenario}...");
            let run = async {
                match scenario {
                    "calls" => calls::run(&ctx, &mut report).await,
                    "wake" => wake::run(&ctx, &mut report).await,
                    "throughput" => throughput::run(&ctx, &mut report).await,
                    "daemon" => daemon::run(&ctx, &mut report).await,
                    "history" => history::run(&ctx, &mut report).await,
                    "many" => many::run(&ctx, &mut report).await,
                    "startup" => startup::run(&ctx, &mut report).await,
                    "idle" => idle::run(&ctx, &mut report).await,
                    "http" => http::run(&ctx, &mut report).await,
                    "shared" => shared::run(&ctx, &mut report).await,
                    "floor" => floor::run(&ctx, &mut report).await,
                    _ => unreachable!("every scenario is listed"),
                }
            };
            let limit = ctx.opts.pick(SCENARIO_LIMIT / 5, SCENARIO_LIMIT);
            if tokio::time::timeout(limit, run).await.is_err() {
                report.fail(format!("{scenario} did not finish within {limit:?}"));
            }
        }
        let label = ctx.theirs.as_ref().map(|s| s.label.as_str());
        println!("{}", report.text(label));
        println!("load average at the end: {}", machine::load());
        if let Some(out) = &ctx.opts.out {
            write_out(&ctx, &report, out)?;
        }
        if report.failures.is_empty() {
            Ok(true)
        } else {
            eprintln!("{} failure(s):", report.failures.len());
            for f in &report.failures {
                eprintln!("  {f}");
            }
            Ok(false)
        }
    })
}

/// results.md and the charts.
fn write_out(ctx: &Ctx, report: &Report, out: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let label = ctx.theirs.as_ref().map(|s| s.label.as_str());
    let md = format!(
        "```text\n{}\nload average at the end: {}\n```\n\n{}",
        ctx.machine.describe(ctx.opts.quick),
        machine::load(),
        report.markdown(label)
    );
    std::fs::write(out.join("results.md"), md)?;
    if !report.wake_series.is_empty() {
        std::fs::write(
            out.join("wake-latency.svg"),
            chart::wake_cdf(&report.wake_series),
        )?;
    }
    if !report.throughput.is_empty() {
        std::fs::write(
            out.join("throughput.svg"),
            chart::throughput(&report.throughput, 50_000.0),
        )?;
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}
