//! Scenario 5 — history scale: inbox(peek) with 0 and with 10 pending after 10k, 100k and
//! 1M messages in the database.
//!
//! The history is written straight into the SQLite file (one transaction, then a WAL
//! checkpoint) while no server has it open: the server first creates its schema (busd on
//! start; the compared server when its first session starts), stops, the rows go in, and the
//! server starts again. The rows are direct messages among 100 other names, so the reader (a
//! new name) has nothing pending until 10 messages are sent to it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::Ctx;
use crate::fixture::{self};
use crate::mcp::{Server, Session};
use crate::report::{self, Figure, Report, Target};
use crate::stats::Samples;

const SECTION: &str = "5 history";
/// A server that takes longer than this for the samples of one figure gets fewer samples.
const BUDGET: Duration = Duration::from_secs(3);
const MIN_SAMPLES: usize = 5;

struct History {
    empty: Samples,
    ten: Samples,
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let sizes: &[usize] = ctx
        .opts
        .pick(&[10_000, 100_000], &[10_000, 100_000, 1_000_000]);
    for &size in sizes {
        let label = match size {
            n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
            n => format!("{}k", n / 1000),
        };
        let ours = report::ours(
            report,
            &format!("history {label}"),
            measure(ctx, &ctx.ours, size).await,
        );
        let theirs = match &ctx.theirs {
            Some(server) => Some(measure(ctx, server, size).await),
            None => None,
        };
        let target = Target::at_most(0.5);
        for (pending, pick) in [
            ("0", (|h: &History| &h.empty) as fn(&History) -> &Samples),
            ("10", |h: &History| &h.ten),
        ] {
            report.add(
                Figure::ms(
                    SECTION,
                    format!("{label} msgs, {pending} pending: inbox(peek) p50"),
                )
                .target(target)
                .ours(report::value(&ours, |h| pick(h).p50().into()))
                .theirs(report::theirs(&theirs, |h| pick(h).p50().into())),
            );
        }
    }
    report.note(
        "history: rows bulk-inserted into the database file while its server was stopped \
         (direct messages among 100 other names); the reader is a new name",
    );
}

async fn measure(ctx: &Ctx, server: &Server, size: usize) -> anyhow::Result<History> {
    let mut bus = fixture::temp_bus(&ctx.bins.busd)?;
    // Let the server create its schema, then stop it.
    if server.is_ours() {
        bus.try_spawn(&[]).await?;
        bus.stop();
    } else {
        Session::named(server, &bus, "seed").await?.close().await;
    }
    let db = bus.db().to_owned();
    tokio::task::spawn_blocking(move || seed(&db, size)).await??;
    if server.is_ours() {
        bus.try_spawn(&[]).await?;
    }
    let reader = Session::named(server, &bus, "reader").await?;
    let sender = Session::named(server, &bus, "sender").await?;
    let n = ctx.opts.pick(100, 500);
    let empty = peeks(&reader, n).await?;
    for i in 0..10 {
        sender
            .call(
                "send",
                json!({ "to": "reader", "content": format!("pending {i}") }),
            )
            .await?;
    }
    let ten = peeks(&reader, n).await?;
    reader.close().await;
    sender.close().await;
    Ok(History { empty, ten })
}

/// Up to `n` timed `inbox(peek)` calls (fewer when they take long).
async fn peeks(reader: &Session, n: usize) -> anyhow::Result<Samples> {
    reader.call("inbox", json!({ "peek": true })).await?;
    let start = Instant::now();
    let mut samples = Samples::new();
    while samples.len() < n && (samples.len() < MIN_SAMPLES || start.elapsed() < BUDGET) {
        let t0 = Instant::now();
        reader.call("inbox", json!({ "peek": true })).await?;
        samples.push(t0.elapsed());
    }
    Ok(samples)
}

/// Append `size` messages to the database at `db` in one transaction.
fn seed(db: &Path, size: usize) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(db)
        .with_context(|| format!("opening {} to seed it", db.display()))?;
    let names: Vec<String> = (0..100).map(|i| format!("h{i}")).collect();
    let content = "history ".repeat(12);
    let start = proto::time::now() - size as f64 * 0.001;
    let tx = conn.transaction()?;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO messages(ts, sender, recipient, content, reply_to) \
                 VALUES (?1, ?2, ?3, ?4, NULL)",
            )
            .context("the server's database has no messages table of the claude-bus shape")?;
        for k in 0..size {
            let from = &names[k % 100];
            let to = &names[(k / 100 + k + 1) % 100];
            let to = if to == from {
                &names[(k + 50) % 100]
            } else {
                to
            };
            insert.execute((start + k as f64 * 0.001, from, to, &content))?;
        }
    }
    tx.commit()?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}
