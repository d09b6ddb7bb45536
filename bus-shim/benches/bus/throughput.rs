//! Scenario 3 — throughput with correctness: 8 sessions each send a mix of direct messages and
//! broadcasts while all of them drain their inboxes; every delivery is checked exactly once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tokio::sync::Barrier;

use crate::Ctx;
use crate::fixture::{self, Layout};
use crate::mcp::{Server, Session, inbox_contents};
use crate::report::{self, Better, Figure, Report, Target, Unit, Value};

const SECTION: &str = "3 send+drain";
pub const SESSIONS: usize = 8;
/// Every 8th message is a broadcast; the others go round the other sessions.
const BROADCAST_EVERY: usize = 8;
/// A session drains its inbox after every this many sends.
const DRAIN_EVERY: usize = 4;

pub struct Throughput {
    pub sent: usize,
    pub deliveries: usize,
    pub per_sec: f64,
    pub lost: usize,
    pub duplicated: usize,
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let ours = report::ours(report, "send+drain", measure(ctx, &ctx.ours).await);
    let theirs = match &ctx.theirs {
        Some(server) => Some(measure(ctx, server).await),
        None => None,
    };
    if let Some(t) = &ours {
        t.check(report, "send+drain");
        report.note(format!(
            "send+drain: {SESSIONS} sessions sent {} messages (1 in {BROADCAST_EVERY} a \
             broadcast), {} deliveries expected, each checked exactly once",
            t.sent, t.deliveries
        ));
    }
    report.add(
        Figure::new(
            SECTION,
            "8 sessions, messages/s",
            Unit::PerSec,
            Better::Higher,
        )
        .target(Target::at_least(5000.0))
        .ours(report::value(&ours, |t| t.per_sec.into()))
        .theirs(report::theirs(&theirs, |t| t.per_sec.into())),
    );
    let pct = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
    let count = |n: usize, of: usize| Value::Missing(format!("{n} ({:.1} %)", pct(n, of)));
    report.add(
        Figure::new(SECTION, "lost deliveries", Unit::Count, Better::Lower)
            .target(Target::at_most(0.0))
            .ours(report::value(&ours, |t| (t.lost as f64).into()))
            .theirs(report::theirs(&theirs, |t| count(t.lost, t.deliveries))),
    );
    report.add(
        Figure::new(SECTION, "duplicated deliveries", Unit::Count, Better::Lower)
            .target(Target::at_most(0.0))
            .ours(report::value(&ours, |t| (t.duplicated as f64).into()))
            .theirs(report::theirs(&theirs, |t| {
                count(t.duplicated, t.deliveries)
            })),
    );
}

impl Throughput {
    /// A lost or duplicated delivery fails the run.
    pub fn check(&self, report: &mut Report, what: &str) {
        if self.lost != 0 || self.duplicated != 0 {
            report.fail(format!(
                "{what}: {} of {} deliveries lost, {} duplicated",
                self.lost, self.deliveries, self.duplicated
            ));
        }
    }
}

async fn measure(ctx: &Ctx, server: &Server) -> anyhow::Result<Throughput> {
    let per_session = ctx.opts.pick(250, 2500);
    if server.is_ours() {
        return ours_on(ctx, Layout::Sqlite, per_session).await;
    }
    let bus = fixture::temp_bus(&ctx.bins.busd)?;
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        sessions.push(Session::named(server, &bus, &format!("t{i}")).await?);
    }
    exchange(server, sessions, per_session).await
}

/// Our shim's sessions on `layout`, each sending `per_session` messages; on two busd, the
/// sessions are dealt round the machines.
pub async fn ours_on(
    ctx: &Ctx,
    layout: Layout<'_>,
    per_session: usize,
) -> anyhow::Result<Throughput> {
    let machines = layout.start(&ctx.bins.busd).await?;
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        sessions.push(Session::named(&ctx.ours, machines.of(i), &format!("t{i}")).await?);
    }
    exchange(&ctx.ours, sessions, per_session).await
}

/// Every session sends and drains at once; what each received, checked.
async fn exchange(
    server: &Server,
    sessions: Vec<Session>,
    per_session: usize,
) -> anyhow::Result<Throughput> {
    let barrier = Arc::new(Barrier::new(SESSIONS));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (i, session) in sessions.into_iter().enumerate() {
        let (barrier, server) = (barrier.clone(), server.clone());
        tasks.push(tokio::spawn(async move {
            let got = session_run(&session, &server, i, per_session, &barrier).await;
            session.close().await;
            got
        }));
    }
    let mut received = Vec::new();
    for task in tasks {
        received.push(task.await??);
    }
    let elapsed = t0.elapsed();
    let (deliveries, lost, duplicated) = check(&received, per_session);
    let sent = SESSIONS * per_session;
    Ok(Throughput {
        sent,
        deliveries,
        per_sec: sent as f64 / elapsed.as_secs_f64(),
        lost,
        duplicated,
    })
}

/// Where message `j` of session `i` goes.
fn recipient(i: usize, j: usize) -> Option<usize> {
    if j % BROADCAST_EVERY == BROADCAST_EVERY - 1 {
        None
    } else {
        Some((i + 1 + j % (SESSIONS - 1)) % SESSIONS)
    }
}

/// Send, draining every few sends; once everyone has sent, drain until empty. Returns how many
/// times each content arrived.
async fn session_run(
    session: &Session,
    server: &Server,
    i: usize,
    per_session: usize,
    barrier: &Barrier,
) -> anyhow::Result<HashMap<String, u32>> {
    let mut got: HashMap<String, u32> = HashMap::new();
    let drain_args = if server.inbox_limit {
        json!({ "limit": 1000 })
    } else {
        json!({})
    };
    let drain = |got: &mut HashMap<String, u32>, page: serde_json::Value| {
        let (messages, pending) = inbox_contents(&page);
        let empty = messages.is_empty();
        for m in messages {
            *got.entry(m).or_default() += 1;
        }
        empty && pending == 0
    };
    for j in 0..per_session {
        let to = recipient(i, j).map_or("all".to_owned(), |r| format!("t{r}"));
        session
            .call("send", json!({ "to": to, "content": format!("{i}:{j}") }))
            .await?;
        if j % DRAIN_EVERY == DRAIN_EVERY - 1 {
            drain(&mut got, session.call("inbox", drain_args.clone()).await?);
        }
    }
    // Every send is acknowledged (so committed) past this point: drain to the end.
    barrier.wait().await;
    while !drain(&mut got, session.call("inbox", drain_args.clone()).await?) {}
    Ok(got)
}

/// (deliveries expected, lost, duplicated) over every session.
fn check(received: &[HashMap<String, u32>], per_session: usize) -> (usize, usize, usize) {
    let (mut expected_total, mut lost, mut duplicated) = (0, 0, 0);
    for (r, got) in received.iter().enumerate() {
        let mut expected: HashMap<String, u32> = HashMap::new();
        for i in (0..SESSIONS).filter(|&i| i != r) {
            for j in 0..per_session {
                if recipient(i, j).is_none_or(|to| to == r) {
                    expected.insert(format!("{i}:{j}"), 1);
                }
            }
        }
        expected_total += expected.len();
        for content in expected.keys() {
            match got.get(content).copied().unwrap_or(0) {
                0 => lost += 1,
                1 => {}
                n => duplicated += n as usize - 1,
            }
        }
        // Anything that was not for this session at all counts as a duplicate delivery.
        duplicated += got
            .iter()
            .filter(|(c, _)| !expected.contains_key(*c))
            .map(|(_, n)| *n as usize)
            .sum::<usize>();
    }
    (expected_total, lost, duplicated)
}
