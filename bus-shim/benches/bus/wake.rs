//! Scenario 2 — wake latency: from just before a `send` to the return of the addressee's waiting
//! `inbox(wait=…)`, and to the exit of a waiting `bus hook stop` when that is built. A server
//! whose `inbox` cannot wait is measured the way its readers listen: polling, 10 times a
//! second or back to back (with the CPU that costs). The coordination calls are measured
//! beside it (`coord.rs`).

use std::cell::Cell;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::Ctx;
use crate::fixture::{self, Layout, TempBus};
use crate::mcp::{Server, Session, inbox_contents};
use crate::procs;
use crate::report::{self, Better, Figure, Report, Target, Unit, Value};
use crate::stats::Samples;

const SECTION: &str = "2 wake";
/// A polling reader that has not seen a message this long after it was sent lost it.
const LOST_AFTER: Duration = Duration::from_secs(2);

/// How long a reader waits before each message is sent (varied, so that sends do not line up
/// with anything periodic); `slow` doubles it for each time the reader was not parked yet
/// (a loaded machine), up to 64 times.
fn quiet(i: usize, slow: u32) -> Duration {
    Duration::from_micros(3000 + (i as u64 * 773) % 4000) * 2u32.pow(slow.min(6))
}

#[derive(Default)]
pub struct Wake {
    /// Blocking readers (`inbox(wait)`), or readers polling 10 times a second.
    pub wake: Samples,
    /// Samples dropped because the reader was not parked yet when the message was sent.
    pub not_parked: usize,
    /// Messages a polling reader never saw.
    lost: usize,
    /// Readers polling back to back, and the CPU share of the reader's server meanwhile.
    busy: Option<(Samples, f64)>,
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let ours = report::ours(report, "wake", measure(ctx, &ctx.ours).await);
    let theirs = match &ctx.theirs {
        Some(server) => Some(measure(ctx, server).await),
        None => None,
    };
    let hook = match &ctx.bins.bus_hook {
        Some(bus) => report::ours(report, "wake (bus hook stop)", hook(ctx, bus).await),
        None => None,
    };
    report.add(
        Figure::ms(SECTION, "inbox(wait) wake p50")
            .target(Target::at_most(1.0))
            .ours(report::value(&ours, |w| w.wake.p50().into()))
            .theirs(report::theirs(&theirs, |w| w.wake.p50().into())),
    );
    report.add(
        Figure::ms(SECTION, "inbox(wait) wake p99")
            .target(Target::at_most(5.0))
            .ours(report::value(&ours, |w| w.wake.p99().into()))
            .theirs(report::theirs(&theirs, |w| w.wake.p99().into())),
    );
    if let Some(Ok(w)) = &theirs
        && let Some((busy, cpu)) = &w.busy
    {
        report.add(
            Figure::ms(SECTION, "wake p50 when polling back to back")
                .ours(Value::Missing("(waits)".into()))
                .theirs(Some(busy.p50().into())),
        );
        report.add(
            Figure::new(
                SECTION,
                "CPU of that polling reader",
                Unit::Core,
                Better::Lower,
            )
            .ours(Value::Missing("(waits)".into()))
            .theirs(Some(Value::Num(*cpu))),
        );
    }
    let (hook50, hook99) = match (&ctx.bins.bus_hook, &hook) {
        (None, _) => {
            let why = || Value::Missing("n/a (bus hook not built)".into());
            (why(), why())
        }
        (Some(_), None) => (
            Value::Missing("error".into()),
            Value::Missing("error".into()),
        ),
        (Some(_), Some(s)) => (s.p50().into(), s.p99().into()),
    };
    report.add(Figure::ms(SECTION, "bus hook stop wake p50").ours(hook50));
    report.add(Figure::ms(SECTION, "bus hook stop wake p99").ours(hook99));
    if let Some(w) = &ours {
        report.note(format!(
            "wake: {} samples; a sample counts only when busd reported the reader parked just \
             before the send ({} were not and were dropped)",
            w.wake.len(),
            w.not_parked
        ));
        report
            .wake_series
            .push(("claude-bus inbox(wait)".into(), w.wake.sorted_ms()));
    }
    if let Some(s) = &hook {
        report
            .wake_series
            .push(("claude-bus bus hook stop".into(), s.sorted_ms()));
    }
    crate::coord::run(ctx, report).await;
    if let (Some(Ok(w)), Some(server)) = (&theirs, &ctx.theirs)
        && !server.inbox_wait
    {
        report.note(format!(
            "wake, {}: its inbox cannot wait, so its reader polls: 10 times a second in the \
             inbox(wait) rows, back to back in the polling rows",
            server.label
        ));
        if w.lost > 0 {
            report.note(format!(
                "wake, {}: {} of the messages sent to a polling reader never reached it",
                server.label, w.lost
            ));
        }
        report
            .wake_series
            .push((format!("{} polling 10/s", server.label), w.wake.sorted_ms()));
        if let Some((busy, _)) = &w.busy {
            report.wake_series.push((
                format!("{} polling back to back", server.label),
                busy.sorted_ms(),
            ));
        }
    }
}

async fn measure(ctx: &Ctx, server: &Server) -> anyhow::Result<Wake> {
    if server.is_ours() {
        return ours_on(ctx, Layout::Sqlite).await;
    }
    let bus = fixture::temp_bus(&ctx.bins.busd)?;
    let reader = Session::named(server, &bus, "reader").await?;
    let sender = Session::named(server, &bus, "sender").await?;
    let wake = if server.inbox_wait {
        blocking(ctx, &bus, server, &reader, &sender).await?
    } else {
        let n = ctx.opts.pick(10, 40);
        let (wake, lost) = polling(&reader, &sender, n, Some(Duration::from_millis(100))).await?;
        let t0 = Instant::now();
        let cpu0 = procs::cpu_time(reader.pid).unwrap_or_default();
        let (busy, busy_lost) = polling(&reader, &sender, n, None).await?;
        let cpu = procs::cpu_time(reader.pid).unwrap_or_default() - cpu0;
        let share = 100.0 * cpu.as_secs_f64() / t0.elapsed().as_secs_f64();
        Wake {
            wake,
            not_parked: 0,
            lost: lost + busy_lost,
            busy: Some((busy, share)),
        }
    };
    reader.close().await;
    sender.close().await;
    Ok(wake)
}

/// Our shim's `inbox(wait)` on `layout`: on two busd, the reader waits on the second machine's
/// and the sender sends through the first's.
pub async fn ours_on(ctx: &Ctx, layout: Layout<'_>) -> anyhow::Result<Wake> {
    let machines = layout.start(&ctx.bins.busd).await?;
    let (reader_bus, sender_bus) = (machines.of(1), machines.of(0));
    let reader = Session::named(&ctx.ours, reader_bus, "reader").await?;
    let sender = Session::named(&ctx.ours, sender_bus, "sender").await?;
    let wake = blocking(ctx, reader_bus, &ctx.ours, &reader, &sender).await;
    reader.close().await;
    sender.close().await;
    wake
}

/// The reader blocks in `inbox(wait)`; its busd's status tells when it is parked.
async fn blocking(
    ctx: &Ctx,
    bus: &TempBus,
    server: &Server,
    reader: &Session,
    sender: &Session,
) -> anyhow::Result<Wake> {
    let probe = bus.client();
    let mut out = Wake::default();
    let n = ctx.opts.pick(30, 300);
    let mut i = 0;
    // On a machine too loaded to park the reader in time, stop with the samples there are.
    while out.wake.len() < n && i < 2 * n + 10 {
        i += 1;
        let content = format!("wake {i}");
        let waiting = async {
            let page = reader.call("inbox", json!({ "wait": 30 })).await;
            (page, Instant::now())
        };
        let sending = async {
            tokio::time::sleep(quiet(i, out.not_parked as u32)).await;
            let parked = !server.is_ours() || fixture::status(&probe).await?.waiting == 1;
            let t0 = Instant::now();
            sender
                .call("send", json!({ "to": "reader", "content": content }))
                .await?;
            anyhow::Ok((t0, parked))
        };
        let ((page, t1), sent) = tokio::join!(waiting, sending);
        let (t0, parked) = sent?;
        let (messages, _) = inbox_contents(&page?);
        if messages != [content] {
            bail!("the woken reader got {messages:?}");
        }
        if parked {
            out.wake.push(t1 - t0);
        } else {
            out.not_parked += 1;
        }
    }
    Ok(out)
}

/// The reader polls `inbox` every `every` (or back to back); the send happens at a varied
/// moment between polls. A message the reader has not seen [`LOST_AFTER`] after it was sent
/// is counted as lost (the Python claude-bus can skip mail committed during a read).
async fn polling(
    reader: &Session,
    sender: &Session,
    n: usize,
    every: Option<Duration>,
) -> anyhow::Result<(Samples, usize)> {
    let mut samples = Samples::new();
    let mut lost = 0;
    for i in 0..n {
        let content = format!("poll {i} {every:?}");
        let sent_at = Cell::new(None::<Instant>);
        let polls = async {
            let mut ticks = every.map(tokio::time::interval);
            loop {
                if let Some(t) = ticks.as_mut() {
                    t.tick().await;
                }
                let (messages, _) = inbox_contents(&reader.call("inbox", json!({})).await?);
                if messages.contains(&content) {
                    return anyhow::Ok(Some(Instant::now()));
                }
                if sent_at.get().is_some_and(|t| t.elapsed() > LOST_AFTER) {
                    return Ok(None);
                }
            }
        };
        let sending = async {
            let offset = every.unwrap_or(Duration::from_millis(20));
            tokio::time::sleep(offset.mul_f64(0.1 + 0.8 * ((i * 37) % 100) as f64 / 100.0)).await;
            let t0 = Instant::now();
            sender
                .call("send", json!({ "to": "reader", "content": content }))
                .await?;
            sent_at.set(Some(t0));
            anyhow::Ok(t0)
        };
        let (t1, t0) = tokio::join!(polls, sending);
        match t1? {
            Some(t1) => samples.push(t1 - t0?),
            None => lost += 1,
        }
    }
    Ok((samples, lost))
}

/// `bus hook stop` waits for mail for BUS_NAME; it exits 2 once it has consumed some.
async fn hook(ctx: &Ctx, bus_exe: &std::path::Path) -> anyhow::Result<Samples> {
    let bus = fixture::started(&ctx.bins.busd).await?;
    let sender = fixture::registered(&bus, "sender").await?;
    let probe = bus.client();
    let n = ctx.opts.pick(10, 60);
    let mut samples = Samples::new();
    let (mut tries, mut not_waiting) = (0, 0);
    while samples.len() < n && tries < 2 * n + 10 {
        tries += 1;
        let mut child = tokio::process::Command::new(bus_exe)
            .args(["hook", "stop"])
            .env("BUS_DB", bus.db())
            .env("BUS_NAME", "hooked")
            .env_remove("BUS_SOCKET")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting bus hook stop")?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin
                .write_all(br#"{"hook_event_name":"Stop","session_id":"bench"}"#)
                .await;
        }
        let exited = async {
            let status = child.wait().await;
            (status, Instant::now())
        };
        let sending = async {
            tokio::time::sleep(Duration::from_millis(50) + quiet(tries, not_waiting)).await;
            let parked = fixture::status(&probe).await?.waiting == 1;
            let t0 = Instant::now();
            sender
                .run(proto::client::call::send(
                    "hooked".into(),
                    format!("hook {tries}"),
                    None,
                ))
                .await?;
            anyhow::Ok((t0, parked))
        };
        let ((status, t1), sent) = tokio::join!(exited, sending);
        let (t0, parked) = sent?;
        let status = status?;
        if status.code() != Some(2) {
            bail!("bus hook stop exited with {status} after mail, not 2");
        }
        if parked {
            samples.push(t1 - t0);
        } else {
            not_waiting += 1;
        }
    }
    Ok(samples)
}
