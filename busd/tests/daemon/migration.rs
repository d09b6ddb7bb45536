//! Upgrading a Python claude-bus database end to end: busd opens a v1 or v2 file in place,
//! sessions find their state, names, claims, cursors and receipts through the requests, a
//! second upgrade changes nothing, and a newer file is refused untouched.

use std::time::Duration;

use proto::client::{StartError, spawn_daemon};
use proto::time::{now, rfc3339};
use proto::{AgentStatus, Request, Response, StateMode};

use crate::common::*;

#[tokio::test]
async fn a_python_v2_database_is_upgraded_in_place_and_keeps_everything() {
    let mut bus = TempBus::empty();
    std::fs::create_dir_all(bus.paths.dir()).unwrap();
    fixture(bus.db(), PYTHON_V2);
    // Make ann's claim live for the next hour (the fixture's claims expired long ago).
    let live_for = now() + 3600.0 - 1000.0;
    fixture(
        bus.db(),
        &format!("UPDATE claims SET ttl = {live_for} WHERE path = 'src/api/x.rs'"),
    );
    bus.spawn(&[]).await;
    let watcher = bus.connected().await;

    let state = get_state(&watcher).await;
    let plan = state.iter().find(|s| s.key == "plan").expect("plan kept");
    assert_eq!(
        (plan.value.as_str(), plan.version, plan.updated_by.as_str()),
        ("third draft", 3, "ann")
    );
    assert_eq!(plan.updated_at, rfc3339(150.0));
    let notes = state.iter().find(|s| s.key == "notes").expect("notes kept");
    assert_eq!((notes.version, notes.updated_by.as_str()), (1, "bob"));

    let agents = agents(&watcher, true).await;
    let mut names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["ann", "bob", "cid"], "agents keep their names");
    assert!(agents.iter().all(|a| a.status == AgentStatus::Offline));
    let agent = |name: &str| agents.iter().find(|a| a.name == name).unwrap();
    assert_eq!(agent("ann").owns, ["src/api/**"]);
    assert_eq!(agent("bob").role, "web");
    assert!(
        self::agents(&watcher, false).await.is_empty(),
        "long-gone sessions are not listed as active"
    );

    let Ok(Response::Claims(claims)) = call(&watcher, Request::ListClaims).await else {
        panic!("list_claims")
    };
    let live: Vec<(&str, &str)> = claims
        .claims
        .iter()
        .map(|c| (c.path.as_str(), c.owner.as_str()))
        .collect();
    assert_eq!(
        live,
        [("src/api/x.rs", "ann")],
        "live claims kept, expired ones not listed"
    );

    // Receipts written by Python are visible before anyone reads again.
    let broadcast = message_status(&watcher, 2).await;
    let readers: Vec<&str> = broadcast
        .readers
        .iter()
        .map(|r| r.recipient.as_str())
        .collect();
    assert_eq!(readers, ["ann", "cid"]);
    assert_eq!(broadcast.readers[0].read_ts, rfc3339(206.0));
    assert!(
        broadcast.unread.is_empty(),
        "everyone but the sender read it"
    );
    let direct = message_status(&watcher, 3).await;
    assert!(
        direct.readers.is_empty(),
        "an unread delivery row is no receipt"
    );
    assert_eq!(direct.unread, ["ann"]);

    // Each session resumes at its cursor: nothing read is handed over again, nothing is lost.
    let ann = registered(&bus, "ann").await;
    let bob = registered(&bus, "bob").await;
    let cid = registered(&bus, "cid").await;
    assert_eq!(ids(consume(&ann, 100, 0.0).await), [3, 4]);
    assert_eq!(ids(consume(&bob, 100, 0.0).await), [5]);
    assert_eq!(ids(consume(&cid, 100, 0.0).await), [5]);
    let direct = message_status(&watcher, 3).await;
    assert_eq!(direct.readers[0].recipient, "ann", "the receipt is written");
    assert!(direct.unread.is_empty());
    let Ok(r) = register(&bus.connected().await, "dee").await else {
        panic!("register a newcomer")
    };
    assert_eq!(r.pending_count, 2, "a newcomer gets the earlier broadcasts");

    // Versions and ids carry on from where Python left them.
    assert_eq!(set_state(&ann, "plan", "fourth", Some(3)).await, Ok(4));
    assert_eq!(send(&ann, "bob", "after the upgrade").await, 6);
    let refused_claim = call(
        &bob,
        Request::Claim {
            path: "src/api/x.rs".into(),
            ttl: 60.0,
        },
    )
    .await;
    let why = refused(refused_claim, proto::ErrorKind::Conflict);
    assert!(why.contains("'ann'"), "ann's claim still holds: {why}");

    drop((ann, bob, cid, watcher));
    assert!(bus.stop().success());
    assert_eq!(
        user_version(bus.db()),
        3,
        "the file carries our schema version"
    );
    upgrading_again_changes_nothing(&mut bus).await;
}

#[tokio::test]
async fn a_python_v1_database_keeps_state_and_agents_and_drops_its_messages() {
    let mut bus = TempBus::empty();
    std::fs::create_dir_all(bus.paths.dir()).unwrap();
    fixture(bus.db(), PYTHON_V1);
    bus.spawn(&[]).await;
    let watcher = bus.connected().await;

    let state = get_state(&watcher).await;
    let summary: Vec<(&str, &str, i64, &str)> = state
        .iter()
        .map(|s| {
            (
                s.key.as_str(),
                s.value.as_str(),
                s.version,
                s.updated_by.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("empty", "", 1, "bob"),
            ("plan", "step 1\nstep 2", 1, "ann")
        ],
        "values and authors kept; versions start at 1"
    );
    let names: Vec<String> = agents(&watcher, true)
        .await
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["ann", "bob"]);

    let ann = registered(&bus, "ann").await;
    assert!(
        consume(&ann, 100, 0.0).await.messages.is_empty(),
        "v1 messages cannot be mapped to cursors and are dropped"
    );
    assert_eq!(status(&watcher).await.messages, 0);
    assert_eq!(set_state(&ann, "plan", "step 3", Some(1)).await, Ok(2));
    let bob = registered(&bus, "bob").await;
    send(&ann, "bob", "new world").await;
    assert_eq!(consume(&bob, 100, 0.0).await.messages.len(), 1);

    drop((ann, bob, watcher));
    assert!(bus.stop().success());
    assert_eq!(user_version(bus.db()), 3);
    upgrading_again_changes_nothing(&mut bus).await;
}

/// Open the (already upgraded, stopped) bus again and check that nothing changed.
async fn upgrading_again_changes_nothing(bus: &mut TempBus) {
    let before = dump(bus.db());
    bus.spawn(&[]).await;
    assert!(bus.stop().success());
    assert_eq!(dump(bus.db()), before, "a second upgrade changes nothing");
}

#[tokio::test]
async fn a_database_from_a_newer_schema_is_refused_and_left_untouched() {
    let bus = TempBus::empty();
    std::fs::create_dir_all(bus.paths.dir()).unwrap();
    fixture(
        bus.db(),
        "CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT); PRAGMA user_version = 99;",
    );
    let bytes = std::fs::read(bus.db()).unwrap();
    let started = spawn_daemon(&bus.paths, &busd_exe(), &[], false, Duration::from_secs(30)).await;
    let Err(StartError::Failed(why)) = started else {
        panic!("busd must refuse a newer database: {started:?}")
    };
    assert!(
        why.contains("schema version 99") && why.contains("update claude-bus"),
        "says what and what to do: {why}"
    );
    assert_eq!(std::fs::read(bus.db()).unwrap(), bytes, "never rewritten");

    // A client that starts busd by itself reports the same reason.
    let client = proto::client::Client::new(bus.autostart_options());
    let err = client
        .connect()
        .await
        .expect_err("no daemon can serve this file");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

async fn registered(bus: &TempBus, name: &str) -> proto::client::Client {
    bus.registered(name).await
}

fn ids(page: proto::InboxPage) -> Vec<i64> {
    page.messages.iter().map(|m| m.id).collect()
}

async fn get_state(client: &proto::client::Client) -> Vec<proto::StateEntry> {
    match call(client, Request::GetState { key: None }).await {
        Ok(Response::State(list)) => list.state,
        other => panic!("get_state failed: {other:?}"),
    }
}

async fn agents(client: &proto::client::Client, all: bool) -> Vec<proto::Agent> {
    let request = Request::Agents {
        active_within: 180.0,
        all,
    };
    match call(client, request).await {
        Ok(Response::Agents(list)) => list.agents,
        other => panic!("agents failed: {other:?}"),
    }
}

async fn message_status(client: &proto::client::Client, id: i64) -> proto::MessageStatus {
    match call(client, Request::MessageStatus { message_id: id }).await {
        Ok(Response::MessageStatus(s)) => s,
        other => panic!("message_status failed: {other:?}"),
    }
}

async fn set_state(
    client: &proto::client::Client,
    key: &str,
    value: &str,
    expected_version: Option<i64>,
) -> Result<i64, proto::WireError> {
    let request = Request::SetState {
        key: key.into(),
        value: value.into(),
        expected_version,
        mode: StateMode::Overwrite,
    };
    call(client, request).await.map(|r| match r {
        Response::StateWritten(w) => w.version,
        other => panic!("set_state answered {other:?}"),
    })
}
