//! A bus's files are private to its user: created `0600` in a `0700` folder; a folder others can
//! write to, a database others can write to or that belongs to someone else, and a log that is a
//! symlink are refused, and refused files are left as they were.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use proto::client::spawn_daemon;

use crate::common::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn the_database_its_wal_the_log_and_the_locks_are_created_0600() {
    let mut bus = TempBus::start().await;
    let a = bus.registered("a").await;
    bus.registered("b").await;
    send(&a, "b", "private").await;
    let mut files = vec![bus.paths.log.clone(), bus.paths.daemon_lock.clone()];
    files.push(bus.paths.db_lock.clone());
    for suffix in ["", "-wal", "-shm"] {
        let mut name = bus.db().as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(bus.paths.dir()), 0o700);
    assert!(bus.stop().success());
}

#[tokio::test]
async fn a_bus_folder_others_can_write_to_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let bus = TempBus::at(dir, shared.join("bus.db"));
    let why = match spawn_daemon(&bus.paths, &busd_exe(), &[], false, Duration::from_secs(30)).await
    {
        Err(e) => e.to_string(),
        Ok(_) => panic!("busd started in a world-writable folder"),
    };
    assert!(
        why.contains("other users can write to it (mode 1777)"),
        "{why}"
    );
    assert!(why.contains(&shared.display().to_string()), "{why}");
    assert_eq!(
        std::fs::read_dir(&shared).unwrap().count(),
        0,
        "nothing created"
    );
    assert_eq!(mode(&shared), 0o1777, "left as it was");
}

#[tokio::test]
async fn a_bus_folder_others_can_only_read_is_tightened_to_0700() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("bus");
    std::fs::create_dir(&folder).unwrap();
    chmod(&folder, 0o755);
    let mut bus = TempBus::at(dir, folder.join("bus.db"));
    bus.spawn(&[]).await;
    assert_eq!(mode(&folder), 0o700);
}

#[tokio::test]
async fn a_database_others_can_write_to_is_refused_untouched() {
    let mut bus = TempBus::start().await;
    bus.registered("a").await;
    assert!(bus.stop().success());
    chmod(bus.db(), 0o666);
    let before = std::fs::read(bus.db()).unwrap();
    let why = start_refused(&bus).await;
    assert!(
        why.contains("other users can write to it (mode 0666)"),
        "{why}"
    );
    assert!(why.contains(&bus.db().display().to_string()), "{why}");
    assert_eq!(std::fs::read(bus.db()).unwrap(), before);
    assert_eq!(mode(bus.db()), 0o666);
}

#[tokio::test]
async fn a_database_others_can_read_is_tightened_and_served() {
    let mut bus = TempBus::start().await;
    bus.registered("a").await;
    assert!(bus.stop().success());
    chmod(bus.db(), 0o644);
    bus.spawn(&[]).await;
    assert_eq!(mode(bus.db()), 0o600);
    bus.registered("b").await;
}

#[tokio::test]
async fn a_database_of_another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: giving a file to another user needs root");
        return;
    }
    let bus = TempBus::empty();
    std::fs::write(bus.db(), b"").unwrap();
    chmod(bus.db(), 0o600);
    std::os::unix::fs::chown(bus.db(), Some(65534), Some(65534)).unwrap();
    let why = start_refused(&bus).await;
    assert!(why.contains("belongs to uid 65534"), "{why}");
}

#[tokio::test]
async fn a_log_that_is_a_symlink_is_never_followed() {
    let bus = TempBus::empty();
    let target = bus.dir.path().join("elsewhere.txt");
    std::os::unix::fs::symlink(&target, &bus.paths.log).unwrap();
    let why = match spawn_daemon(&bus.paths, &busd_exe(), &[], false, Duration::from_secs(30)).await
    {
        Err(e) => e.to_string(),
        Ok(_) => panic!("busd started with a symlinked log"),
    };
    assert!(why.contains("symlink"), "{why}");
    assert!(why.contains(&bus.paths.log.display().to_string()), "{why}");
    assert!(!target.exists(), "the symlink was not followed");
}

#[test]
fn busd_itself_refuses_a_folder_others_can_write_to() {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o777);
    let out = std::process::Command::new(busd_exe())
        .env("BUS_DB", dir.path().join("bus.db"))
        .env_remove("BUS_SOCKET")
        .output()
        .expect("run busd");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("other users can write to it (mode 0777)"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
