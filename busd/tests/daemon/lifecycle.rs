//! Daemon lifecycle: one daemon per socket, start-up races, crashes, upgrades, shutdown, and
//! a socket inherited from a service manager.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use proto::client::{Client, ClientError};
use proto::{ErrorKind, Request, Response};

use crate::common::*;

#[tokio::test]
async fn a_second_busd_on_the_same_socket_refuses_to_start() {
    let bus = TempBus::start().await;
    let out = std::process::Command::new(busd_exe())
        .env("BUS_DB", &bus.paths.db)
        .env_remove("BUS_SOCKET")
        .output()
        .expect("run busd");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already running"), "{stderr}");
    assert!(
        stderr.contains(&bus.pid().to_string()),
        "names the running pid: {stderr}"
    );
    // The first one is unharmed.
    let a = bus.registered("a").await;
    assert!(call(&a, Request::Whoami).await.is_ok());
}

#[tokio::test]
async fn clients_racing_to_start_busd_end_up_with_one_daemon() {
    let bus = TempBus::empty();
    let clients: Vec<Client> = (0..24)
        .map(|_| Client::new(bus.autostart_options()))
        .collect();
    let answers = futures::future::join_all(
        clients
            .iter()
            .enumerate()
            .map(|(i, c)| async move { register(c, &format!("s{i}")).await }),
    )
    .await;
    for answer in answers {
        assert!(answer.is_ok(), "{answer:?}");
    }
    let pids = busd_pids(&bus.paths);
    assert_eq!(pids.len(), 1, "exactly one busd: {pids:?}\n{}", bus.log());
    // All 24 are served by it.
    match call(&clients[0], Request::Status).await {
        Ok(Response::Status(s)) => {
            assert_eq!(s.sessions, 24);
            assert_eq!(s.pid, pids[0]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced() {
    let bus = TempBus::empty();
    std::fs::create_dir_all(bus.paths.dir()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&bus.paths.socket).unwrap());
    assert!(bus.paths.socket.exists(), "a socket file nobody listens on");
    let client = Client::new(bus.autostart_options());
    assert!(register(&client, "a").await.is_ok());
}

#[tokio::test]
async fn busd_start_up_errors_reach_the_client() {
    let bus = TempBus::empty();
    std::fs::create_dir_all(bus.paths.dir()).unwrap();
    std::fs::write(
        &bus.paths.db,
        b"this is not a database, just some bytes........",
    )
    .unwrap();
    let client = Client::new(bus.autostart_options());
    let err = client
        .connect()
        .await
        .expect_err("busd cannot open a corrupt database");
    let ClientError::Unavailable(message) = err else {
        panic!("{err:?}")
    };
    assert!(message.contains("busd exited"), "{message}");
    assert!(
        message.contains(&bus.paths.db.display().to_string()),
        "names the file: {message}"
    );
}

#[tokio::test]
async fn after_kill_9_clients_restart_busd_and_nothing_is_lost_or_doubled() {
    let mut bus = TempBus::start().await;
    let reader = Client::new(bus.autostart_options());
    let writer = Client::new(bus.autostart_options());
    register(&reader, "reader").await.unwrap();
    register(&writer, "writer").await.unwrap();
    let before = send(&writer, "reader", "before the crash").await;

    // The reader waits (after taking what is there) while busd dies under it.
    assert_eq!(consume(&reader, 10, 0.0).await.messages[0].id, before);
    let waiting = tokio::spawn({
        let reader = reader.clone();
        async move { consume(&reader, 10, 30.0).await }
    });
    wait_until_waiting(&writer, "reader").await;
    bus.kill();

    // The next call starts a new busd; the writer is bound to its name again.
    let after = send(&writer, "reader", "after the crash").await;
    let page = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the waiting reader resumes and wakes")
        .unwrap();
    let ids: Vec<i64> = page.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![after], "exactly the new message, once");
    assert!(consume(&reader, 10, 0.0).await.messages.is_empty());
    assert_eq!(busd_pids(&bus.paths).len(), 1);
}

#[tokio::test]
async fn an_older_busd_retires_for_a_newer_client() {
    let mut bus = TempBus::start_with(&["--announce-protocol", "0"]).await;
    let old_pid = bus.pid();
    let client = Client::new(bus.autostart_options());
    let info = client.connect().await.expect("connects to a new busd");
    assert_eq!(info.protocol, proto::PROTOCOL_VERSION);
    assert_ne!(info.pid, old_pid);
    let status = bus.daemon.take().unwrap().wait().unwrap();
    assert!(
        status.success(),
        "the old busd shut down gracefully: {status}"
    );
    assert!(register(&client, "a").await.is_ok());
}

#[tokio::test]
async fn a_newer_busd_refuses_an_older_client() {
    let bus = TempBus::start_with(&["--announce-protocol", "99"]).await;
    let client = Client::new(bus.autostart_options());
    match client.connect().await {
        Err(ClientError::Refused(e)) => {
            assert_eq!(e.kind, ErrorKind::Handshake);
            assert!(e.message.contains("update"), "{}", e.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn sigterm_answers_waiting_readers_and_exits_cleanly() {
    let mut bus = TempBus::start().await;
    let reader = bus.registered("reader").await;
    let writer = bus.registered("writer").await;
    let waiting = tokio::spawn({
        let reader = reader.clone();
        async move {
            call(
                &reader,
                Request::Inbox {
                    consume: true,
                    limit: 10,
                    wait: 60.0,
                    waiter: None,
                },
            )
            .await
        }
    });
    wait_until_waiting(&writer, "reader").await;
    let status = bus.stop();
    assert!(status.success(), "exit 0 on SIGTERM: {status}");
    match waiting.await.unwrap() {
        Ok(Response::Inbox(page)) => assert!(page.messages.is_empty()),
        other => panic!("a clean, empty answer: {other:?}"),
    }
    assert!(!bus.paths.socket.exists(), "socket removed");
    assert!(
        bus.log().contains("database checkpointed and closed"),
        "{}",
        bus.log()
    );
    // The lock is free: a new busd starts on the same bus and still has the data.
    bus.spawn(&[]).await;
    let a = bus.registered("reader").await;
    assert!(call(&a, Request::Whoami).await.is_ok());
}

#[tokio::test]
async fn sigterm_as_soon_as_busd_is_ready_stops_it_cleanly() {
    let mut bus = TempBus::empty();
    for round in 0..5 {
        bus.spawn(&[]).await;
        let status = bus.stop();
        assert!(
            status.success(),
            "round {round}: exit 0 on SIGTERM: {status}"
        );
    }
}

#[tokio::test]
async fn shutdown_request_stops_busd() {
    let mut bus = TempBus::start().await;
    let client = bus.connected().await;
    assert_eq!(call(&client, Request::Shutdown).await, Ok(Response::Done));
    let status = bus.daemon.take().unwrap().wait().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn busd_serves_a_socket_inherited_like_systemd_passes_it() {
    let bus = TempBus::empty();
    std::fs::create_dir_all(bus.paths.dir()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&bus.paths.socket).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let mut cmd = std::process::Command::new("sh");
    // `exec` keeps the shell's pid, so LISTEN_PID=$$ names busd, as systemd sets it.
    cmd.args([
        "-c",
        "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\"",
        busd_exe().to_str().unwrap(),
    ])
    .env("BUS_DB", &bus.paths.db)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&bus.paths.log).unwrap());
    // SAFETY: dup2 is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(listener);

    // The socket already listens: the client connects at once, busd accepts when it is up.
    let client = Client::new(bus.options(proto::ClientKind::Other));
    if let Err(e) = client.connect().await {
        let _ = child.kill();
        panic!("{e}\n{}", bus.log());
    }
    assert!(register(&client, "a").await.is_ok());
    match call(&client, Request::Status).await {
        Ok(Response::Status(s)) => assert_eq!(s.pid, child.id()),
        other => panic!("{other:?}"),
    }
    signal(child.id(), libc::SIGTERM);
    assert!(child.wait().unwrap().success());
    assert!(
        bus.paths.socket.exists(),
        "the service manager owns the socket file: busd leaves it"
    );
}
