//! Who may use a bus: a peer of another user is refused at connect, and busd refuses a bus
//! folder that is a symlink or belongs to someone else; a client refuses a socket served by
//! another user or in a folder others can write to, before it sends anything, and names a
//! lock file planted by another user. Each refusal is logged or reported; everyone else keeps
//! being served.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use proto::Welcome;
use proto::client::ClientError;
use proto::frame;

use crate::client_faults::Witness;
use crate::common::*;

/// `true` when this process may act as another user (root); otherwise prints why a test skips.
fn can_switch_users(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped {test}: running a client as another user needs root");
    }
    root
}

/// The uid and gid of `nobody`.
const NOBODY: u32 = 65534;

#[tokio::test]
async fn a_peer_of_another_user_is_refused_and_logged() {
    if !can_switch_users("a_peer_of_another_user_is_refused_and_logged") {
        return;
    }
    let bus = TempBus::start().await;
    let witness = Witness::new(&bus).await;
    // Let the other user reach the socket, so that busd's own peer check is what refuses.
    std::fs::set_permissions(bus.paths.dir(), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&bus.paths.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "trust::peer_as_another_user", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env("BUS_TEST_PEER_SOCKET", &bus.paths.socket)
        .uid(NOBODY)
        .gid(NOBODY)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: cannot run the test binary as nobody: {e}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stdout.contains("cannot reach the socket") {
        eprintln!("skipped: nobody cannot reach the socket here: {stdout}");
        return;
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("refused without a welcome"),
        "{stdout}\n{stderr}"
    );
    let log = bus.log();
    assert!(
        log.contains(&format!("peer uid {NOBODY} is not busd's uid 0")),
        "{log}"
    );
    witness.round_trip().await.unwrap();
}

/// The other user's side of [`a_peer_of_another_user_is_refused_and_logged`], run in a child
/// process as `nobody`; does nothing when run otherwise.
#[test]
#[ignore = "run as another user by a_peer_of_another_user_is_refused_and_logged"]
fn peer_as_another_user() {
    let Some(socket) = std::env::var_os("BUS_TEST_PEER_SOCKET") else {
        return;
    };
    let stream = match std::os::unix::net::UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(e) => {
            println!("cannot reach the socket: {e}");
            return;
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let hello = frame::encode(&hello(proto::PROTOCOL_VERSION, "another-user")).unwrap();
    let mut frame = (hello.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&hello);
    let mut stream = stream;
    let _ = stream.write_all(&frame);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    if answer.is_empty() {
        println!("refused without a welcome");
    } else {
        panic!(
            "busd answered another user: {:?}",
            frame::decode::<Welcome>(answer.get(4..).unwrap_or_default())
        );
    }
}

#[tokio::test]
async fn a_bus_folder_that_is_a_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let bus = TempBus::at(dir, link.join("bus.db"));
    let why = start_refused(&bus).await;
    assert!(why.contains("symlink"), "{why}");
    assert!(!real.join("busd.sock").exists(), "no socket was bound");
    assert!(!real.join("bus.db").exists(), "no database was created");
}

#[tokio::test]
async fn a_bus_folder_owned_by_another_user_is_refused() {
    if !can_switch_users("a_bus_folder_owned_by_another_user_is_refused") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let bus = TempBus::at(dir, theirs.join("bus.db"));
    let why = start_refused(&bus).await;
    assert!(why.contains(&format!("belongs to uid {NOBODY}")), "{why}");
    assert!(!theirs.join("busd.sock").exists(), "no socket was bound");
    // A client that would start busd there gets the same refusal.
    let client = proto::client::Client::new(bus.autostart_options());
    match client.connect().await {
        Err(ClientError::Unavailable(why)) => assert!(why.contains("belongs to uid"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_client_refuses_a_socket_in_a_folder_others_can_write_to() {
    let bus = TempBus::empty();
    let shared = bus.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let paths = proto::paths::BusPaths::new(bus.paths.db.clone(), Some(shared.join("b.sock")));
    let client = proto::client::Client::new(proto::client::ClientOptions {
        paths,
        ..bus.autostart_options()
    });
    match client.connect().await {
        Err(ClientError::Unavailable(why)) => {
            assert!(why.contains("the socket's folder"), "{why}");
            assert!(why.contains("other users can write to it"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read_dir(&shared).unwrap().count(),
        0,
        "nothing made there"
    );
}

#[tokio::test]
async fn a_client_sends_nothing_to_a_socket_served_by_another_user() {
    if !can_switch_users("a_client_sends_nothing_to_a_socket_served_by_another_user") {
        return;
    }
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let ours = dir.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o700)).unwrap();
    let bus = TempBus::at(dir, ours.join("bus.db"));

    let planted = theirs.join("impostor.sock");
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "trust::impostor_listener", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env("BUS_TEST_IMPOSTOR_SOCKET", &planted)
        .stdout(std::process::Stdio::piped())
        .uid(NOBODY)
        .gid(NOBODY)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipped: cannot run the test binary as nobody: {e}");
            return;
        }
    };
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // libtest prints the test's name on the same line, before its first output.
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.ends_with("listening") || l.contains("cannot listen"));
    if !first.as_deref().is_some_and(|l| l.ends_with("listening")) {
        eprintln!("skipped: nobody cannot listen here: {first:?}");
        let _ = child.kill();
        return;
    }
    // The other user's socket, where this user's clients look for busd.
    std::fs::rename(&planted, &bus.paths.socket).unwrap();
    let client = proto::client::Client::new(bus.options(proto::ClientKind::Other));
    match client.connect().await {
        Err(ClientError::Unavailable(why)) => {
            assert!(why.contains(&format!("served by uid {NOBODY}")), "{why}");
            assert!(why.contains("nothing was sent"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    drop(client);
    let received = lines
        .map_while(Result::ok)
        .find(|l| l.starts_with("received"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(received.as_deref(), Some("received 0 bytes"));
}

/// The other user's side of [`a_client_sends_nothing_to_a_socket_served_by_another_user`]:
/// listen, take one connection and report how many bytes it sent. Does nothing when run
/// otherwise.
#[test]
#[ignore = "run as another user by a_client_sends_nothing_to_a_socket_served_by_another_user"]
fn impostor_listener() {
    let Some(path) = std::env::var_os("BUS_TEST_IMPOSTOR_SOCKET") else {
        return;
    };
    let listener = match std::os::unix::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            println!("cannot listen: {e}");
            return;
        }
    };
    // A deadline, so a test that never connects does not leave this process behind.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(30));
        std::process::exit(1);
    });
    println!("listening");
    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    println!("received {} bytes", got.len());
}

#[test]
fn a_start_lock_planted_by_another_user_is_named() {
    if !can_switch_users("a_start_lock_planted_by_another_user_is_named") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let folder = dir.path().join("nobodys-bus");
    std::fs::create_dir(&folder).unwrap();
    std::os::unix::fs::chown(&folder, Some(NOBODY), Some(NOBODY)).unwrap();
    let paths = proto::paths::BusPaths::new(folder.join("bus.db"), None);
    // Planted by root, which is "another user" for the client running as nobody.
    std::fs::write(&paths.start_lock, b"").unwrap();
    std::fs::set_permissions(&paths.start_lock, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "trust::client_as_another_user", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env("BUS_TEST_CLIENT_DB", &paths.db)
        .env("BUS_DAEMON", busd_exe())
        .uid(NOBODY)
        .gid(NOBODY)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: cannot run the test binary as nobody: {e}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("client error:"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "refusing the start lock {}: it belongs to uid 0",
            paths.start_lock.display()
        )),
        "{stdout}"
    );
}

/// The client side of [`a_start_lock_planted_by_another_user_is_named`], run as `nobody`:
/// connect (starting busd) and print the error. Does nothing when run otherwise.
#[test]
#[ignore = "run as another user by a_start_lock_planted_by_another_user_is_named"]
fn client_as_another_user() {
    let Some(db) = std::env::var_os("BUS_TEST_CLIENT_DB") else {
        return;
    };
    let paths = proto::paths::BusPaths::new(db.into(), None);
    let options = proto::client::ClientOptions {
        reconnect_for: Duration::from_secs(10),
        ..proto::client::ClientOptions::new(paths, proto::ClientKind::Other)
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match runtime.block_on(proto::client::Client::new(options).connect()) {
        Ok(info) => println!("connected to busd {}", info.pid),
        Err(e) => println!("client error: {e}"),
    }
}
