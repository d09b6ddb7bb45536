//! `bus top`: a full-screen live view of the bus (ratatui + crossterm), read-only.
//!
//! It redraws when busd says something changed (`feed.rs`, `Request::Watch`), on a key or a
//! resize, and at the moment a time shown on screen would read differently (a claim's time
//! left, an age): with nothing time-dependent on screen it sleeps until an event. The
//! terminal is restored on exit, on an error and on a panic (ratatui's panic hook).

mod draw;
mod feed;
mod model;

use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use proto::client::Client;
use tokio::sync::mpsc;

use feed::Feed;
use model::App;

/// Leaves the alternate screen and raw mode however `run` ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

pub async fn run(client: Client) -> anyhow::Result<()> {
    // Reach busd before the screen changes, so that a refusal reads as a plain error.
    client.connect().await?;
    let host = proto::host::machine_name();
    let (tx, mut feed) = mpsc::channel(4);
    let follow = tokio::spawn(feed::follow(client, tx));
    let mut terminal = ratatui::try_init()?;
    let _restore = Restore;
    let mut keys = EventStream::new();
    let mut app = App::default();
    let mut feed_open = true;
    while !app.quit {
        let now = proto::time::now();
        terminal.draw(|frame| draw::draw(frame, &app, now, &host))?;
        let redraw = next_change(&app, now);
        let tick = async {
            match redraw {
                Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => app.key(key),
                Some(Ok(_)) => {} // a resize or another event: redraw
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            got = feed.recv(), if feed_open => match got {
                Some(Feed::Snapshot(snapshot)) => app.apply(*snapshot),
                Some(Feed::Stopped) => app.notice = Some("busd stopped: the view shows its last state".into()),
                Some(Feed::Failed(why)) => app.notice = Some(why),
                None => feed_open = false,
            },
            () = tick => {}
        }
    }
    follow.abort();
    Ok(())
}

/// Seconds until something on screen would read differently with time alone (a claim's time
/// left, an age, the traffic's minute), or `None` when nothing would.
fn next_change(app: &App, now: f64) -> Option<f64> {
    let mut soonest: Option<f64> = None;
    let mut at = |s: f64| soonest = Some(soonest.map_or(s, |t: f64| t.min(s)));
    for claim in app.visible_claims(now) {
        // Shown in whole seconds, rounded up: it changes at each whole second left.
        let left = app.time_left(claim, now);
        at(left - (left.ceil() - 1.0).max(0.0));
    }
    for agent in app.visible_agents().iter().filter(|a| !a.connected) {
        if let Some(seen) = proto::time::parse_rfc3339(&agent.last_seen) {
            at(model::age_changes_in(now - seen));
        }
    }
    for key in app.visible_keys() {
        if let Some(written) = proto::time::parse_rfc3339(&key.updated_at) {
            at(model::age_changes_in(now - written));
        }
    }
    if !app.messages.is_empty() {
        // The traffic sparkline moves on a minute.
        at(60.0 - now % 60.0);
    }
    soonest.map(|s| s.max(0.01))
}
