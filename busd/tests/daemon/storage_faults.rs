//! Storage faults: the database's folder on a full filesystem (a small tmpfs), and a damaged
//! database file at start.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use proto::{ErrorKind, Request, Response, StateMode};

use crate::common::*;

/// A small tmpfs mounted for a test and unmounted when dropped.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mount a tmpfs of `size` (as `mount -o size=` takes it) at `path`, or say why not.
    pub fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("mounting a tmpfs needs root".into());
        }
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            path: path.to_owned(),
        })
    }

    /// Fill what is left of it with one file; returns that file.
    pub fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0x5au8; 4096];
        while file.write_all(&chunk).is_ok() {}
        // Whatever is left is smaller than a page: a byte at a time takes the rest.
        while file.write_all(&[0]).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn set(key: &str, value: String) -> Request {
    Request::SetState {
        key: key.into(),
        value,
        expected_version: None,
        mode: StateMode::Overwrite,
    }
}

#[tokio::test]
async fn a_full_disk_refuses_writes_clearly_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mount = match Tmpfs::mount(&dir.path().join("fs"), "4m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let mut bus = TempBus::at(dir, mount.path.join("bus.db"));
    bus.spawn(&[]).await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    let mut acked: Vec<i64> = Vec::new();
    for i in 0..5 {
        acked.push(send(&a, "b", &format!("before {i}")).await);
    }
    assert!(call(&a, set("plan", "v1".into())).await.is_ok());

    let filler = mount.fill();
    let big = "m".repeat(60 * 1024);
    let mut refusal = None;
    for _ in 0..64 {
        let sent = call(
            &a,
            Request::Send {
                to: "b".into(),
                content: big.clone(),
                reply_to: None,
            },
        )
        .await;
        match sent {
            Ok(Response::Sent(s)) => acked.push(s.id),
            Err(e) => {
                refusal = Some(e);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let refusal = refusal.expect("a write on a full disk is refused");
    assert_eq!(refusal.kind, ErrorKind::Storage, "{refusal:?}");
    assert!(
        refusal.message.contains("nothing was saved") && refusal.message.contains("disk space"),
        "says what happened and what to do: {}",
        refusal.message
    );
    let state = call(&a, set("plan", big.clone())).await;
    assert!(
        matches!(&state, Err(e) if e.kind == ErrorKind::Storage),
        "{state:?}"
    );

    // Reads keep working while the disk is full.
    let peek = Request::Inbox {
        consume: false,
        limit: 1000,
        wait: 0.0,
        waiter: None,
    };
    match call(&b, peek).await {
        Ok(Response::Inbox(page)) => assert_eq!(page.messages.len(), acked.len()),
        other => panic!("peek on a full disk: {other:?}"),
    }
    match call(
        &b,
        Request::GetState {
            key: Some("plan".into()),
        },
    )
    .await
    {
        Ok(Response::State(list)) => assert_eq!(list.state[0].value, "v1"),
        other => panic!("get_state on a full disk: {other:?}"),
    }
    assert!(call(&b, Request::Status).await.is_ok());
    assert!(call(&b, Request::ListClaims).await.is_ok());

    // Space is freed: writes succeed again, and every acknowledged message arrives once.
    std::fs::remove_file(filler).unwrap();
    acked.push(send(&a, "b", "after").await);
    assert!(call(&a, set("plan", "v2".into())).await.is_ok());
    let got: Vec<i64> = consume(&b, 1000, 0.0)
        .await
        .messages
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(got, acked, "every acknowledged message, once, in order");
    assert!(bus.log().contains("commit failed"), "{}", bus.log());
    let status = bus.stop();
    assert!(status.success(), "{status}");
    drop(bus);
    drop(mount);
}

/// A bus with some history, stopped cleanly (so its WAL is checkpointed into the file).
async fn bus_with_history() -> TempBus {
    let mut bus = TempBus::start().await;
    let a = bus.registered("a").await;
    bus.registered("b").await;
    for i in 0..200 {
        send(&a, "b", &format!("message {i} {}", "x".repeat(200))).await;
    }
    assert!(call(&a, set("plan", "v1".into())).await.is_ok());
    assert!(bus.stop().success());
    bus
}

#[tokio::test]
async fn a_damaged_database_is_refused_at_start_and_left_untouched() {
    let bus = bus_with_history().await;
    let mut bytes = std::fs::read(bus.db()).unwrap();
    assert!(bytes.len() > 8 * 4096, "{} bytes", bytes.len());
    // The schema page is intact; the pages after it are overwritten with garbage.
    for b in &mut bytes[4096..] {
        *b = 0xa5;
    }
    std::fs::write(bus.db(), &bytes).unwrap();
    let why = start_refused(&bus).await;
    assert!(why.contains(&bus.db().display().to_string()), "{why}");
    assert!(why.contains("left untouched"), "{why}");
    assert_eq!(
        std::fs::read(bus.db()).unwrap(),
        bytes,
        "the file is untouched"
    );
}

#[tokio::test]
async fn a_truncated_database_is_refused_at_start_and_left_untouched() {
    let bus = bus_with_history().await;
    let mut bytes = std::fs::read(bus.db()).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(bus.db(), &bytes).unwrap();
    let why = start_refused(&bus).await;
    assert!(why.contains("left untouched"), "{why}");
    assert_eq!(
        std::fs::read(bus.db()).unwrap(),
        bytes,
        "the file is untouched"
    );
}
