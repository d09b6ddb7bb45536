//! One busd per database and a busd that lost its socket: a second busd for the same database
//! on another socket refuses, and a client meeting a busd that holds its lock but does not
//! answer names it and gives up at once, without keeping its process alive.

use std::time::{Duration, Instant};

use proto::client::{Client, ClientError, StartError, spawn_daemon};
use proto::paths::BusPaths;

use crate::common::*;

#[tokio::test]
async fn a_second_busd_for_the_same_database_on_another_socket_refuses() {
    let bus = TempBus::start().await;
    let other = bus.dir.path().join("other.sock");
    let paths = BusPaths::new(bus.paths.db.clone(), Some(other.clone()));
    let stderr = match spawn_daemon(&paths, &busd_exe(), &[], false, Duration::from_secs(30)).await
    {
        Err(StartError::Failed(why)) => why,
        Ok(mut second) => {
            let _ = second.kill();
            panic!(
                "a second busd serves the same database on {}",
                other.display()
            );
        }
        Err(e) => panic!("{e}"),
    };
    assert!(stderr.contains("already running"), "{stderr}");
    assert!(stderr.contains(&bus.pid().to_string()), "{stderr}");
    assert!(
        stderr.contains(&format!("BUS_SOCKET={}", bus.paths.socket.display())),
        "names the socket to use: {stderr}"
    );
    assert!(!other.exists(), "no second socket is left behind");

    // A client pointed at the other socket is told the same, instead of starting a busd.
    let client = Client::new(proto::client::ClientOptions {
        paths,
        autostart: true,
        ..bus.options(proto::ClientKind::Other)
    });
    match client.connect().await {
        Err(ClientError::Unavailable(why)) => {
            assert!(why.contains(&bus.pid().to_string()), "{why}");
            assert!(
                why.contains(&format!("BUS_SOCKET={}", bus.paths.socket.display())),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(busd_pids(&bus.paths).len(), 1, "still exactly one busd");
}

/// A busd whose socket file was deleted: the client names its pid at once, and the process
/// that ran the client can end (a wait left behind on the daemon lock used to keep it alive
/// until that busd exited).
#[test]
fn a_busd_whose_socket_was_removed_is_named_and_the_client_can_exit() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bus = runtime.block_on(TempBus::start());
    std::fs::remove_file(&bus.paths.socket).unwrap();
    let options = bus.autostart_options();
    let pid = bus.pid();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let client_runtime = tokio::runtime::Runtime::new().unwrap();
        let answer = client_runtime.block_on(Client::new(options).connect());
        // Dropping the runtime waits for its blocking tasks, as a process's exit does.
        drop(client_runtime);
        let _ = done_tx.send(answer);
    });
    let answer = done_rx
        .recv_timeout(Duration::from_secs(8))
        .expect("the client gives up and its runtime ends while busd still runs");
    match answer {
        Err(ClientError::Unavailable(why)) => {
            assert!(why.contains(&format!("busd (pid {pid})")), "{why}");
            assert!(why.contains("socket file was removed"), "{why}");
            assert!(why.contains("bus stop"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(bus);
}
