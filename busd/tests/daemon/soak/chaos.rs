//! Crash chaos: sessions send, ask (`send(wait_reply)`, answered by the drainers of the
//! others), append to state, claim and drain continuously while busd is `kill -9`ed at random
//! moments; they start a new busd by themselves (the next call of any of them does) and resend
//! what was interrupted. Afterwards every acknowledged message was delivered exactly once to
//! each recipient (a reply through the ask that waited for it or through the inbox, never
//! both), every acknowledged append is in its key exactly once, and no path ever had two
//! owners.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use proto::client::Client;
use proto::{Request, Response};
use tokio_util::sync::CancellationToken;

use super::ledger::{Appends, Ledger, Row};
use super::monkey::monkey;
use super::session::{Fail, Session};
use super::{Rng, Settings};
use crate::common::*;
use crate::mcp::{Shim, shim_exe};

/// Paths the sessions compete for.
const PATHS: u64 = 4;

/// Who believes they hold each path: set once a claim is acknowledged, cleared before the
/// release is sent. A claim acknowledged while another session believes it holds the path
/// means the path had two owners.
#[derive(Default)]
struct Beliefs(Mutex<HashMap<String, String>>);

impl Beliefs {
    fn take(&self, path: &str, me: &str) -> Result<(), String> {
        let mut map = self.0.lock().unwrap();
        match map.insert(path.to_owned(), me.to_owned()) {
            Some(other) if other != me => Err(other),
            _ => Ok(()),
        }
    }

    fn give_up(&self, path: &str, me: &str) {
        let mut map = self.0.lock().unwrap();
        if map.get(path).is_some_and(|holder| holder == me) {
            map.remove(path);
        }
    }
}

struct Shared {
    names: Vec<String>,
    ledger: Ledger,
    beliefs: Beliefs,
    stop_work: CancellationToken,
    stop_drain: CancellationToken,
    /// Held (shared) by a drainer while it answers an ask; taken once the work stops, so that
    /// no answer is still on its way when the final drain begins.
    answering: tokio::sync::RwLock<()>,
}

/// The content of an ask carries this mark: its addressee's drainer answers it.
const ASK: &str = ":ask";

/// What one session's worker did.
#[derive(Default)]
struct Work {
    messages: Row,
    state: Row,
    claims: Row,
    appends: Appends,
    /// The path it believes it holds at the end.
    held: Option<String>,
    /// Asks acknowledged, and how many of them returned their reply.
    asks: (u64, u64),
}

/// Crash chaos on one machine's bus (SQLite).
pub async fn run(settings: &Settings) -> Vec<Row> {
    chaos(settings, "crash chaos", vec![TempBus::empty()]).await
}

/// Crash chaos on a bus shared over PostgreSQL by two machines (two busd, each with its own
/// socket folder): the sessions are spread over both and either busd is killed; or one row
/// saying why it was skipped.
pub async fn shared(settings: &Settings) -> Vec<Row> {
    let Some(cluster) = testkit::postgres::cluster() else {
        let mut row = Row::new("shared chaos");
        row.note("skipped: no PostgreSQL (initdb) on this machine".into());
        return vec![row];
    };
    let url = cluster.database();
    let machines = vec![TempBus::shared(&url), TempBus::shared(&url)];
    chaos(settings, "shared chaos", machines).await
}

/// Session `i` is on machine `i % machines.len()`.
async fn chaos(settings: &Settings, label: &str, machines: Vec<TempBus>) -> Vec<Row> {
    let mut rows = vec![
        Row::new(&format!("{label}: messages")),
        Row::new(&format!("{label}: state")),
        Row::new(&format!("{label}: claims")),
    ];
    let shims = if shim_exe().is_some() {
        settings.shims
    } else {
        rows[0].error("bus-shim is not built beside busd: cargo build -p bus-shim".into());
        0
    };
    let names: Vec<String> = (0..settings.sessions).map(|i| format!("s{i}")).collect();
    let mut sessions = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let bus = &machines[i % machines.len()];
        let session = if i < shims {
            let log = bus.dir.path().join(format!("shim-{name}.log"));
            Session::Shim(Arc::new(Shim::start(&bus.paths, &[], &log).await))
        } else {
            Session::Client(Client::new(bus.autostart_options()))
        };
        if let Err(e) = session.register(name).await {
            rows[0].error(format!("{name} could not register: {e}"));
            return rows;
        }
        sessions.push(Arc::new(session));
    }
    let shared = Arc::new(Shared {
        names: names.clone(),
        ledger: Ledger::default(),
        beliefs: Beliefs::default(),
        stop_work: CancellationToken::new(),
        stop_drain: CancellationToken::new(),
        answering: tokio::sync::RwLock::new(()),
    });

    let mut workers = Vec::new();
    let mut drainers = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let seed = settings.seed ^ (i as u64 + 1);
        workers.push(tokio::spawn(work(
            session.clone(),
            names[i].clone(),
            shared.clone(),
            Rng::new(seed),
        )));
        drainers.push(tokio::spawn(drain(
            session.clone(),
            names[i].clone(),
            shared.clone(),
        )));
    }
    let stop_kills = CancellationToken::new();
    let targets = machines
        .iter()
        .map(|bus| (bus.paths.clone(), Client::new(bus.autostart_options())))
        .collect();
    let monkey = tokio::spawn(monkey(
        targets,
        settings.kills,
        settings.kill_pace,
        stop_kills.clone(),
        Rng::new(settings.seed),
    ));

    // The scenario's length: the work goes on meanwhile.
    tokio::time::sleep(settings.duration).await;
    stop_kills.cancel();
    let (kills, monkey_notes) = monkey.await.unwrap();
    shared.stop_work.cancel();
    let mut held = Vec::new();
    let mut appends = Vec::new();
    let mut asks = (0, 0);
    for (i, w) in workers.into_iter().enumerate() {
        let mut work = w.await.unwrap();
        asks = (asks.0 + work.asks.0, asks.1 + work.asks.1);
        merge(&mut rows[0], work.messages);
        merge(&mut rows[1], work.state);
        merge(&mut rows[2], work.claims);
        held.extend(work.held.take().map(|p| (p, names[i].clone())));
        appends.push((names[i].clone(), work.appends));
    }
    drop(shared.answering.write().await);
    shared.stop_drain.cancel();
    for d in drainers {
        let row = d.await.unwrap();
        merge(&mut rows[0], row);
    }

    for note in monkey_notes {
        rows[0].error(note);
    }
    let checker = Client::new(machines[0].autostart_options());
    shared.ledger.settle(&names, &mut rows[0]);
    let (acked, maybe) = shared.ledger.counts();
    rows[0].operations = acked + maybe;
    let starts: usize = machines
        .iter()
        .map(|bus| bus.log().matches("busd serving").count())
        .sum();
    rows[0].note(format!(
        "{kills} kill -9 of busd, {starts} starts on {} machine(s); {acked} sends acknowledged, {maybe} failed (maybe applied); {shims} of {} sessions are bus-shim processes",
        machines.len(),
        names.len()
    ));
    rows[0].note(format!(
        "{} asks acknowledged, {} of them returned their reply (the others' replies came as mail)",
        asks.0, asks.1
    ));
    if kills < settings.kills {
        rows[0].error(format!("only {kills} kills, fewer than {}", settings.kills));
    }
    check_state(&checker, &appends, &mut rows[1]).await;
    check_claims(&checker, &held, &mut rows[2]).await;
    for bus in &machines {
        let _ = Client::new(bus.options(proto::ClientKind::Cli))
            .call(Request::Shutdown)
            .await;
    }
    drop(sessions);
    rows
}

fn merge(into: &mut Row, from: Row) {
    into.operations += from.operations;
    into.lost += from.lost;
    into.duplicated += from.duplicated;
    into.errors += from.errors;
    into.latencies.extend(from.latencies);
    for n in from.notes {
        into.note(n);
    }
}

/// One session's calls until told to stop: mostly sends (some broadcast), some appends, some
/// claims and releases.
async fn work(session: Arc<Session>, me: String, shared: Arc<Shared>, mut rng: Rng) -> Work {
    let mut w = Work::default();
    let others: Vec<&String> = shared.names.iter().filter(|n| **n != me).collect();
    let mut unsure: Vec<String> = Vec::new();
    let mut seq = 0u64;
    while !shared.stop_work.is_cancelled() {
        seq += 1;
        let token = format!("{me}:{seq}");
        let roll = rng.below(20);
        let started = Instant::now();
        if roll == 1 {
            let to = others[rng.below(others.len() as u64) as usize].as_str();
            let token = format!("{token}{ASK}");
            let asked = session.ask(to, &token, 0.3).await;
            w.messages.latencies.push(started.elapsed());
            match asked {
                Ok((id, reply)) => {
                    shared.ledger.sent(&me, to, token, Some(id));
                    w.asks.0 += 1;
                    if let Some(reply) = reply {
                        w.asks.1 += 1;
                        shared.ledger.got(&me, reply.id, reply.content);
                    }
                }
                Err(e) => {
                    match e {
                        Fail::Unavailable(_) => w.messages.note(format!("{me}: ask {e}")),
                        _ => w.messages.error(format!("{me}: ask failed: {e}")),
                    }
                    shared.ledger.sent(&me, to, token, None);
                }
            }
        } else if roll < 15 {
            let to = if roll == 0 {
                proto::limits::BROADCAST
            } else {
                others[rng.below(others.len() as u64) as usize].as_str()
            };
            let sent = session.send(to, &token).await;
            w.messages.latencies.push(started.elapsed());
            match sent {
                Ok(id) => shared.ledger.sent(&me, to, token, Some(id)),
                Err(e) => {
                    match e {
                        Fail::Unavailable(_) => w.messages.note(format!("{me}: send {e}")),
                        _ => w.messages.error(format!("{me}: send failed: {e}")),
                    }
                    shared.ledger.sent(&me, to, token, None);
                }
            }
        } else if roll < 18 {
            let appended = session.append(&format!("soak/{me}"), &token).await;
            w.state.operations += 1;
            w.state.latencies.push(started.elapsed());
            match appended {
                Ok(_) => w.appends.acked.push(token),
                Err(e) => {
                    match e {
                        Fail::Unavailable(_) => w.state.note(format!("{me}: set_state {e}")),
                        _ => w.state.error(format!("{me}: set_state failed: {e}")),
                    }
                    w.appends.maybe.push(token);
                }
            }
        } else {
            w.claims.operations += 1;
            claim_step(&session, &me, &shared, &mut rng, &mut w, &mut unsure).await;
            w.claims.latencies.push(started.elapsed());
        }
    }
    w
}

/// Release the held path, or a path that may be held after a failed call, or claim one.
async fn claim_step(
    session: &Session,
    me: &str,
    shared: &Shared,
    rng: &mut Rng,
    w: &mut Work,
    unsure: &mut Vec<String>,
) {
    if let Some(path) = w.held.take() {
        shared.beliefs.give_up(&path, me);
        match session.release(&path).await {
            Ok(()) => {}
            Err(Fail::Unavailable(_)) => unsure.push(path),
            Err(e) => {
                w.claims
                    .error(format!("{me}: releasing its own {path} failed: {e}"));
                unsure.push(path);
            }
        }
    } else if let Some(path) = unsure.pop() {
        match session.release(&path).await {
            // Refused: another session holds it now, so this one does not.
            Ok(()) | Err(Fail::Refused(_)) => {}
            Err(Fail::Unavailable(_)) => unsure.push(path),
            Err(e) => w
                .claims
                .error(format!("{me}: release of {path} failed: {e}")),
        }
    } else {
        let path = format!("src/{}.rs", rng.below(PATHS));
        match session.claim(&path, 600.0).await {
            Ok(()) => {
                if let Err(other) = shared.beliefs.take(&path, me) {
                    w.claims.duplicated += 1;
                    w.claims
                        .note(format!("{me} was granted {path} while {other} held it"));
                }
                w.held = Some(path);
            }
            Err(Fail::Refused(_)) => {}
            Err(Fail::Unavailable(_)) => unsure.push(path),
            Err(e) => w.claims.error(format!("{me}: claim of {path} failed: {e}")),
        }
    }
}

/// Drain the inbox continuously; once told to stop, drain what is left.
async fn drain(session: Arc<Session>, me: String, shared: Arc<Shared>) -> Row {
    let mut row = Row::new("drain");
    let mut finishing = false;
    loop {
        if shared.stop_drain.is_cancelled() {
            finishing = true;
        }
        let wait = if finishing { 0.0 } else { 0.5 };
        match session.inbox(wait, 100).await {
            Ok((messages, pending)) => {
                let empty = messages.is_empty();
                for m in messages {
                    if let Some(asker) = m
                        .content
                        .strip_suffix(ASK)
                        .and_then(|t| t.split(':').next())
                    {
                        answer(&session, &me, asker, m.id, &shared, &mut row).await;
                    }
                    shared.ledger.got(&me, m.id, m.content);
                }
                if finishing && empty && pending == 0 {
                    return row;
                }
            }
            Err(e) => {
                row.error(format!("{me}: inbox failed: {e}"));
                if row.errors > 50 {
                    return row;
                }
            }
        }
    }
}

/// Answer the ask `id` of `asker`, unless the work has stopped (then its ask has given up
/// long ago, and an answer now could land after the asker's final drain).
async fn answer(session: &Session, me: &str, asker: &str, id: i64, shared: &Shared, row: &mut Row) {
    let _answering = shared.answering.read().await;
    if shared.stop_work.is_cancelled() {
        return;
    }
    let token = format!("{me}:re{id}");
    match session.reply(asker, &token, id).await {
        Ok(reply) => shared.ledger.sent(me, asker, token, Some(reply)),
        Err(e) => {
            match e {
                Fail::Unavailable(_) => row.note(format!("{me}: answer {e}")),
                _ => row.error(format!("{me}: answer failed: {e}")),
            }
            shared.ledger.sent(me, asker, token, None);
        }
    }
}

async fn check_state(client: &Client, appends: &[(String, Appends)], row: &mut Row) {
    let all = match client.call(Request::GetState { key: None }).await {
        Ok(Response::State(list)) => list.state,
        other => {
            row.error(format!("get_state failed: {other:?}"));
            return;
        }
    };
    for (name, a) in appends {
        let key = format!("soak/{name}");
        match all.iter().find(|e| e.key == key) {
            Some(e) => a.settle(&key, &e.value, e.version, row),
            None if a.acked.is_empty() => {}
            None => {
                row.lost += a.acked.len() as u64;
                row.note(format!("{key} is missing"));
            }
        }
    }
}

async fn check_claims(client: &Client, held: &[(String, String)], row: &mut Row) {
    let claims = match client.call(Request::ListClaims).await {
        Ok(Response::Claims(list)) => list.claims,
        other => {
            row.error(format!("list_claims failed: {other:?}"));
            return;
        }
    };
    for (path, me) in held {
        if !claims.iter().any(|c| &c.path == path && &c.owner == me) {
            row.lost += 1;
            row.note(format!("{me} holds {path}, but busd lists {claims:?}"));
        }
    }
}
