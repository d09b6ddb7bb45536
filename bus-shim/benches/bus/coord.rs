//! Scenario 2, continued — the coordination calls beside the plain wake: from just before a
//! `set_state` to the return of another session's waiting `get_state(after_version, wait)`,
//! and the round trip of an ask: `send(wait_reply)` to a session parked in `inbox(wait)`,
//! which answers at once with `send(reply_to)`. claude-bus only (the Python tool has neither).

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use crate::Ctx;
use crate::fixture::{self};
use crate::mcp::{Session, inbox_contents};
use crate::report::{self, Figure, Report};
use crate::stats::Samples;

const SECTION: &str = "2 wake";

/// A varied pause before each write, so that the waiter is parked (busd does not count state
/// waiters in its status, so this cannot be checked as for the inbox).
fn quiet(i: usize) -> Duration {
    Duration::from_micros(3000 + (i as u64 * 773) % 4000)
}

#[derive(Default)]
struct Coord {
    state: Samples,
    ask: Samples,
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let ours = report::ours(report, "coordination", measure(ctx).await);
    let figures = [
        ("get_state(wait) wake p50", 50.0),
        ("get_state(wait) wake p99", 99.0),
        ("send(wait_reply) round trip p50", 50.0),
        ("send(wait_reply) round trip p99", 99.0),
    ];
    for (i, (name, q)) in figures.into_iter().enumerate() {
        let pick = move |c: &Coord| {
            let samples = if i < 2 { &c.state } else { &c.ask };
            samples.quantile_ms(q / 100.0).into()
        };
        report.add(Figure::ms(SECTION, name).ours(report::value(&ours, pick)));
    }
    if let Some(c) = &ours {
        report.note(format!(
            "coordination: {} state wakes, {} asks (each: the question's wake, the answer's \
             send and wake: about two plain wakes and two calls)",
            c.state.len(),
            c.ask.len()
        ));
    }
}

async fn measure(ctx: &Ctx) -> anyhow::Result<Coord> {
    let bus = fixture::started(&ctx.bins.busd).await?;
    let a = Session::named(&ctx.ours, &bus, "asker").await?;
    let b = Session::named(&ctx.ours, &bus, "answerer").await?;
    let n = ctx.opts.pick(30, 300);
    let mut out = Coord::default();
    for i in 0..n {
        let waiting = async {
            let args = json!({"key": "k", "after_version": i, "wait": 30});
            let got = a.call("get_state", args).await;
            (got, Instant::now())
        };
        let writing = async {
            tokio::time::sleep(quiet(i)).await;
            let t0 = Instant::now();
            b.call("set_state", json!({"key": "k", "value": i.to_string()}))
                .await?;
            anyhow::Ok(t0)
        };
        let ((got, t1), t0) = tokio::join!(waiting, writing);
        let got = got?;
        if got["state"][0]["version"] != json!(i + 1) {
            bail!("the state waiter got {got}");
        }
        out.state.push(t1 - t0?);
    }
    for i in 0..n {
        let question = format!("q{i}");
        let asking = async {
            tokio::time::sleep(quiet(i)).await;
            let t0 = Instant::now();
            let args = json!({"to": "answerer", "content": question, "wait_reply": 30});
            let asked = a.call("send", args).await;
            (asked, t0, Instant::now())
        };
        let answering = async {
            let page = b.call("inbox", json!({"wait": 30})).await?;
            let id = page["messages"][0]["id"].clone();
            let reply = json!({"to": "asker", "content": format!("a{i}"), "reply_to": id});
            b.call("send", reply).await?;
            anyhow::Ok(page)
        };
        let ((asked, t0, t1), page) = tokio::join!(asking, answering);
        let (asked, page) = (asked?, page?);
        if inbox_contents(&page).0 != [question.clone()] {
            bail!("the answerer got {page}");
        }
        if asked["reply"]["content"] != Value::String(format!("a{i}")) {
            bail!("the asker got {asked}");
        }
        out.ask.push(t1 - t0);
    }
    let (left, _) = inbox_contents(&a.call("inbox", json!({})).await?);
    if !left.is_empty() {
        bail!("replies handed out twice: the asker's inbox still holds {left:?}");
    }
    a.close().await;
    b.close().await;
    Ok(out)
}
