//! A damaged write-ahead log after a crash is refused at start, files untouched, instead of
//! being served with the transactions after the damage silently dropped.

use std::path::PathBuf;

use crate::common::*;

const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

/// A bus that acknowledged 40 messages to `b`, then was `kill -9`ed (its WAL not checkpointed).
async fn killed_after_40_messages() -> TempBus {
    let mut bus = TempBus::start().await;
    let a = bus.registered("a").await;
    bus.registered("b").await;
    for i in 0..40 {
        send(&a, "b", &format!("message {i}")).await;
    }
    bus.kill();
    bus
}

fn beside(bus: &TempBus, suffix: &str) -> PathBuf {
    let mut name = bus.db().as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The database's files and their bytes.
fn snapshot(bus: &TempBus) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| beside(bus, s))
        .map(|p| {
            let bytes = std::fs::read(&p).ok();
            (p, bytes)
        })
        .collect()
}

/// Flip one byte inside the page of WAL frame `frame` (1-based; 0 for the last); returns the
/// number of frames.
fn flip_in_frame(bus: &TempBus, frame: usize) -> usize {
    let path = beside(bus, "-wal");
    let mut wal = std::fs::read(&path).unwrap();
    let page = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
    let frames = (wal.len() - WAL_HEADER) / (FRAME_HEADER + page);
    assert!(
        frames > 10,
        "the WAL holds the 40 messages: {frames} frames"
    );
    let frame = if frame == 0 { frames } else { frame };
    let at = WAL_HEADER + (frame - 1) * (FRAME_HEADER + page) + FRAME_HEADER + page / 2;
    wal[at] ^= 0x01;
    std::fs::write(&path, &wal).unwrap();
    frames
}

async fn assert_refused_untouched(bus: &TempBus) {
    let before = snapshot(bus);
    let why = start_refused(bus).await;
    assert!(why.contains("write-ahead log"), "{why}");
    assert!(why.contains("damaged"), "{why}");
    assert!(why.contains("left untouched"), "{why}");
    assert_eq!(snapshot(bus), before, "the files are untouched");
}

#[tokio::test]
async fn a_flipped_byte_early_in_the_wal_is_refused_and_left_untouched() {
    let bus = killed_after_40_messages().await;
    flip_in_frame(&bus, 3);
    assert_refused_untouched(&bus).await;
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_committed_frame_is_refused() {
    let bus = killed_after_40_messages().await;
    flip_in_frame(&bus, 0);
    assert_refused_untouched(&bus).await;
}

#[tokio::test]
async fn an_intact_wal_after_kill_9_is_served_with_every_message() {
    let mut bus = killed_after_40_messages().await;
    bus.spawn(&[]).await;
    let b = bus.registered("b").await;
    let page = consume(&b, 100, 0.0).await;
    assert_eq!(page.messages.len(), 40);
}
