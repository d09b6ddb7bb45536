//! What `bus top` shows, fetched when busd says something changed (`Request::Watch`), never
//! on a timer: each change brings the agents, claims and keys anew and the messages since the
//! last one seen.

use proto::client::Client;
use proto::{Agent, ClaimEntry, ErrorKind, Message, Request, Response, StateKey, limits};
use tokio::sync::mpsc;

/// How many of the latest messages the view starts with.
pub const HISTORY: i64 = 500;

/// One look at the bus, taken after a change.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub agents: Vec<Agent>,
    pub claims: Vec<ClaimEntry>,
    pub keys: Vec<StateKey>,
    /// Messages committed since the previous snapshot (the latest [`HISTORY`] at first).
    pub messages: Vec<Message>,
    /// When busd answered (Unix seconds), for claims' time left.
    pub at: f64,
}

/// What the feed tells the view.
#[derive(Debug)]
pub enum Feed {
    Snapshot(Box<Snapshot>),
    /// busd stopped for good: the view shows the last snapshot and says so.
    Stopped,
    /// A call failed; the view says why.
    Failed(String),
}

/// Follow the bus until the view goes away (its receiver dropped) or busd stops.
pub async fn follow(client: Client, tx: mpsc::Sender<Feed>) {
    let end = match run(&client, &tx).await {
        Ok(()) => return,
        Err(Stop::Stopped) => Feed::Stopped,
        Err(Stop::Failed(why)) => Feed::Failed(why),
    };
    let _ = tx.send(end).await;
}

enum Stop {
    Stopped,
    Failed(String),
}

impl From<proto::client::ClientError> for Stop {
    fn from(e: proto::client::ClientError) -> Stop {
        match e.kind() {
            Some(ErrorKind::ShuttingDown) => Stop::Stopped,
            _ => Stop::Failed(e.to_string()),
        }
    }
}

async fn run(client: &Client, tx: &mpsc::Sender<Feed>) -> Result<(), Stop> {
    let mut seq = 0;
    let mut last_id = None;
    loop {
        // 0 always answers at once: the first look needs no change.
        let watch = Request::Watch {
            after: seq,
            wait: limits::WAIT_MAX_SECONDS,
        };
        let waited = client.call_waiting(watch).await?;
        let Response::Changed(changes) = waited.response else {
            return Err(unexpected(waited.response));
        };
        if waited.stopping {
            return Err(Stop::Stopped);
        }
        if changes.seq == seq {
            continue; // the wait ran out with nothing new
        }
        seq = changes.seq;
        let snapshot = look(client, &mut last_id).await?;
        if tx.send(Feed::Snapshot(Box::new(snapshot))).await.is_err() {
            return Ok(());
        }
    }
}

async fn look(client: &Client, last_id: &mut Option<i64>) -> Result<Snapshot, Stop> {
    let agents = match client
        .call(Request::Agents {
            active_within: 180.0,
            all: false,
        })
        .await?
    {
        Response::Agents(list) => list.agents,
        other => return Err(unexpected(other)),
    };
    let claims = match client.call(Request::ListClaims).await? {
        Response::Claims(list) => list.claims,
        other => return Err(unexpected(other)),
    };
    let keys = match client.call(Request::ListState).await? {
        Response::StateKeys(list) => list.keys,
        other => return Err(unexpected(other)),
    };
    let at = proto::time::now();
    let after = match *last_id {
        Some(id) => id,
        None => (tail(client, None, 1).await?.1 - HISTORY).max(0),
    };
    let mut messages = Vec::new();
    let mut after = after;
    loop {
        let (page, last) = tail(client, Some(after), 1000).await?;
        let full = page.len() == 1000;
        messages.extend(page);
        after = last;
        if !full {
            break;
        }
    }
    *last_id = Some(after);
    Ok(Snapshot {
        agents,
        claims,
        keys,
        messages,
        at,
    })
}

async fn tail(
    client: &Client,
    after: Option<i64>,
    limit: u32,
) -> Result<(Vec<Message>, i64), Stop> {
    let request = Request::Tail {
        after,
        wait: 0.0,
        limit,
    };
    match client.call(request).await? {
        Response::Tail(page) => Ok((page.messages, page.last_id)),
        other => Err(unexpected(other)),
    }
}

fn unexpected(response: Response) -> Stop {
    Stop::Failed(format!(
        "busd answered with an unexpected reply ({response:?}): is busd the same version as bus?"
    ))
}
