//! One bus across machines: two busd (two "machines": separate socket folders) on one
//! PostgreSQL, real bus-shim sessions on each. Exactly once across them, wake-ups across them,
//! names held across them and freed when a busd dies, PostgreSQL restarted under a send load,
//! a password from the password file.
//! Skipped (one line) without `initdb`.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use futures::future::join_all;
use proto::client::call;
use serde_json::{Value, json};
use testkit::traffic::Plan;
use testkit::{PATIENCE, Session, TempBus};

const SESSIONS: usize = 8;
const PER_SENDER: usize = 40;

const PLAN: Plan = Plan {
    sessions: SESSIONS,
    per_sender: PER_SENDER,
};

/// Two busd serving one fresh shared database, or `None` without PostgreSQL here.
async fn two_machines() -> Option<(TempBus, TempBus)> {
    let url = testkit::postgres::cluster()?.database();
    let mut a = TempBus::shared(&url);
    let mut b = TempBus::shared(&url);
    a.spawn(&["--host", "machine-a"]).await;
    b.spawn(&["--host", "machine-b"]).await;
    Some((a, b))
}

async fn run(session: &Session, me: usize) -> Vec<Value> {
    let want = PLAN.expected(me).len();
    let sending = async {
        for seq in 0..PER_SENDER {
            session
                .ok(
                    "send",
                    json!({"to": PLAN.recipient(me, seq), "content": PLAN.content(me, seq)}),
                )
                .await;
        }
    };
    let draining = async {
        let mut got: Vec<Value> = Vec::new();
        for call in 0usize.. {
            if got.len() >= want {
                break;
            }
            let limit = [1, 5, 100][call % 3];
            let page = session
                .ok("inbox", json!({"wait": 30, "limit": limit}))
                .await;
            let messages = page["messages"].as_array().unwrap();
            assert!(
                !messages.is_empty(),
                "{} waited 30 s with {} of {want} messages: some were lost",
                PLAN.name(me),
                got.len()
            );
            got.extend(messages.iter().cloned());
        }
        got
    };
    let ((), got) = tokio::join!(sending, draining);
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_sessions_on_two_busd_deliver_exactly_once() {
    let Some((a, b)) = two_machines().await else {
        return;
    };
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let machine = if i % 2 == 0 { &a } else { &b };
        sessions.push(machine.named(&PLAN.name(i)).await);
    }
    let received = join_all(sessions.iter().enumerate().map(|(i, s)| run(s, i))).await;
    for (me, got) in received.iter().enumerate() {
        let ids: BTreeSet<i64> = got.iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert_eq!(
            ids.len(),
            got.len(),
            "{} got a message twice",
            PLAN.name(me)
        );
        let contents: BTreeSet<String> = got
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            contents,
            PLAN.expected(me),
            "{} got exactly its messages",
            PLAN.name(me)
        );
    }
    for s in &sessions {
        let rest = s.ok("inbox", json!({})).await;
        assert_eq!(rest, json!({"messages": [], "pending_count": 0}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_waiting_on_one_busd_wakes_when_a_send_commits_on_the_other() {
    let Some((a, b)) = two_machines().await else {
        return;
    };
    let ann = a.named("ann").await;
    let bob = b.named("bob").await;
    for round in 0..5 {
        let waiting = bob.start("inbox", json!({"wait": 30})).await;
        // The reader is parked on busd B before the send (its busd says so).
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = Instant::now();
        ann.ok(
            "send",
            json!({"to": "bob", "content": format!("ping {round}")}),
        )
        .await;
        let page = Session::finish(waiting).await;
        let woke = sent.elapsed();
        assert_eq!(page["messages"][0]["content"], format!("ping {round}"));
        assert!(woke < Duration::from_secs(5), "woke after {woke:?}");
        println!(
            "woken across busd {:.1} ms after the send",
            woke.as_secs_f64() * 1e3
        );
    }
    // A broadcast too.
    let waiting = bob.start("inbox", json!({"wait": 30})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ann.ok("send", json!({"to": "all", "content": "everyone"}))
        .await;
    let page = Session::finish(waiting).await;
    assert_eq!(page["messages"][0]["content"], "everyone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_held_on_one_busd_is_refused_on_the_other_until_that_busd_dies() {
    let Some((mut a, b)) = two_machines().await else {
        return;
    };
    let alice = a.named("alice").await;
    let other = b.session().await;
    let refused = other.err("register", json!({"name": "alice"})).await;
    assert!(refused.contains("another machine"), "{refused}");
    // Both machines see alice connected, and each session with the machine it is on.
    other.ok("register", json!({"name": "bob"})).await;
    let alice_on_a = alice.ok("agents", json!({})).await;
    let agents = other.ok("agents", json!({})).await;
    for agents in [&alice_on_a, &agents] {
        let host_of = |name: &str| {
            let list = agents["agents"].as_array().expect("a list of agents");
            let entry = list.iter().find(|a| a["name"] == name);
            let entry = entry.unwrap_or_else(|| panic!("{name} missing: {agents}"));
            assert_eq!(entry["status"], "online", "{agents}");
            entry["host"].clone()
        };
        assert_eq!(host_of("alice"), "machine-a", "{agents}");
        assert_eq!(host_of("bob"), "machine-b", "{agents}");
    }

    // Machine A goes: its session frozen, its busd killed.
    let shim = alice.pid.expect("the shim's pid");
    // SAFETY: signals to processes this test started.
    unsafe { libc::kill(shim as i32, libc::SIGSTOP) };
    a.kill();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match other.try_call("register", json!({"name": "alice"})).await {
            Ok(r) if r.is_error != Some(true) => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("alice was never freed: {other:?}"),
        }
    }
    unsafe { libc::kill(shim as i32, libc::SIGKILL) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_in_the_middle_of_a_send_load_loses_nothing_acknowledged() {
    // A cluster of this test's own: it is stopped under load.
    let Some(cluster) = testkit::postgres::Cluster::start_new() else {
        return;
    };
    let cluster = std::sync::Arc::new(cluster);
    let url = cluster.database();
    let mut a = TempBus::shared(&url);
    let mut b = TempBus::shared(&url);
    a.spawn(&[]).await;
    b.spawn(&[]).await;
    let ann = a.named("ann").await;
    let bob = b.named("bob").await;
    // Sending goes on through the restart, until 20 sends past it were acknowledged.
    let restarted = std::sync::atomic::AtomicBool::new(false);
    let sending = async {
        let mut acknowledged = BTreeSet::new();
        let mut refused = Vec::new();
        let mut after = 0;
        for i in 0.. {
            if after >= 20 {
                break;
            }
            let content = format!("m{i}");
            match ann
                .try_call("send", json!({"to": "bob", "content": content}))
                .await
            {
                Ok(r) if r.is_error != Some(true) => {
                    acknowledged.insert(content);
                    if restarted.load(std::sync::atomic::Ordering::SeqCst) {
                        after += 1;
                    }
                }
                Ok(r) => {
                    refused.push(format!("{:?}", r.content));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => refused.push(e.to_string()),
            }
        }
        (acknowledged, refused, ())
    };
    let restarting = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // On a thread of its own: the sends go on meanwhile.
        let server = cluster.clone();
        tokio::task::spawn_blocking(move || server.restart())
            .await
            .expect("the restart");
        restarted.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let ((acknowledged, refused, ()), ()) = tokio::join!(sending, restarting);
    println!(
        "{} sends acknowledged, {} refused while the server restarted",
        acknowledged.len(),
        refused.len()
    );
    assert!(
        refused
            .iter()
            .all(|r| r.contains("shared bus database") && r.contains("unreachable")),
        "{refused:#?}"
    );
    let mut got: Vec<String> = Vec::new();
    loop {
        let page = bob.ok("inbox", json!({"wait": 2, "limit": 100})).await;
        let messages = page["messages"].as_array().unwrap();
        if messages.is_empty() {
            break;
        }
        got.extend(
            messages
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_owned()),
        );
    }
    let unique: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "a message handed over twice");
    let lost: Vec<&String> = acknowledged.difference(&unique).collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    // A waiter still wakes across busd after the restart.
    let waiting = bob.start("inbox", json!({"wait": 30})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ann.ok("send", json!({"to": "bob", "content": "after"}))
        .await;
    assert_eq!(
        Session::finish(waiting).await["messages"][0]["content"],
        "after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_bus_moved_into_postgres_continues_there_and_a_full_database_is_refused() {
    let Some(cluster) = testkit::postgres::cluster() else {
        return;
    };
    let url = cluster.database();
    let mut local = TempBus::start().await;
    {
        let ann = local.named("ann").await;
        let bob = local.named("bob").await;
        for i in 0..5 {
            ann.ok("send", json!({"to": "bob", "content": format!("m{i}")}))
                .await;
        }
        ann.ok("send", json!({"to": "all", "content": "hello all"}))
            .await;
        let read = bob.ok("inbox", json!({"limit": 2})).await;
        assert_eq!(read["messages"].as_array().unwrap().len(), 2);
        ann.ok("set_state", json!({"key": "plan", "value": "v1"}))
            .await;
        ann.ok(
            "set_state",
            json!({"key": "plan", "value": "v2", "expected_version": 1}),
        )
        .await;
        ann.ok("claim", json!({"path": "src/lib.rs", "ttl": 600}))
            .await;
    }
    local.stop();
    let migrate = |db: &std::path::Path| {
        std::process::Command::new(testkit::bin("busd"))
            .args(["migrate", "--to", &url])
            .env("BUS_DB", db)
            .env_remove("BUS_SOCKET")
            .output()
            .expect("busd migrate runs")
    };
    let out = migrate(local.db());
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("copied 2 agents, 6 messages"), "{said}");

    let mut shared = TempBus::shared(&url);
    shared.spawn(&[]).await;
    let bob = shared.named("bob").await;
    let rest = bob.ok("inbox", json!({})).await;
    let contents: Vec<&str> = rest["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["m2", "m3", "m4", "hello all"],
        "the cursor moved over"
    );
    let state = bob.ok("get_state", json!({"key": "plan"})).await;
    assert!(
        state.to_string().contains("v2") && state.to_string().contains("ann"),
        "{state}"
    );
    let claimed = bob.err("claim", json!({"path": "src/lib.rs"})).await;
    assert!(claimed.contains("ann"), "{claimed}");
    let ann = shared.named("ann").await;
    let next = ann.ok("send", json!({"to": "bob", "content": "new"})).await;
    assert!(next.to_string().contains("\"id\":7"), "ids go on: {next}");

    let again = migrate(local.db());
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already holds a bus"), "{err}");
}

#[tokio::test]
async fn busd_takes_a_missing_password_from_the_password_file() {
    let Some(cluster) = testkit::postgres::cluster() else {
        return;
    };
    let url = cluster.database_with_password("pa:ss");
    let bus = TempBus::shared(&url);
    let pgpass = bus.dir.path().join("pgpass");
    let busd = |pgpass: &std::path::Path| {
        let mut cmd = std::process::Command::new(bus.busd());
        cmd.env("BUS_DB", &url)
            .env("BUS_SOCKET", &bus.paths.socket)
            .env("PGPASSFILE", pgpass)
            .env_remove("PGPASSWORD")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    // No line for this server: the server asks for a password busd does not have.
    std::fs::write(&pgpass, "elsewhere:5432:*:*:nope\n").unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let refused = busd(&pgpass).output().unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("is unreachable") && said.contains("password"),
        "{said}"
    );

    // The line for it (a `:` in the password escaped, as libpq reads it): busd serves.
    let port = cluster.port();
    std::fs::write(&pgpass, format!("127.0.0.1:{port}:*:*:pa\\:ss\n")).unwrap();
    // busd logs to its stderr: into the log file, as a client that starts busd has it.
    let log = bus.paths.log.clone();
    let log_file = std::fs::File::create(&log).unwrap();
    let mut serving = busd(&pgpass).stderr(log_file).spawn().unwrap();
    testkit::files::event(&log, PATIENCE, "busd serving", |l| {
        l.contains("busd serving")
    })
    .await;
    let status = bus
        .client()
        .run(call::status())
        .await
        .expect("busd answers");
    assert_eq!(status.pid, serving.id());
    serving.kill().unwrap();
    serving.wait().unwrap();
}
