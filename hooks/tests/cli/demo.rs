//! `bus demo`: a newcomer sees two sessions talk and a Stop hook wake up, without Claude Code.

use crate::common::{Bus, sibling};

#[tokio::test]
async fn demo_shows_two_sessions_talking_and_the_hook_waking() {
    let bus = Bus::empty();
    let out = bus
        .bus(&["demo", "--rounds", "2"])
        .env("BUS_DAEMON", sibling("busd"))
        .run()
        .await;
    println!("{}", out.stdout);
    assert_eq!(out.code, 0, "{out:?}");
    for needle in [
        "bob -> alice  #1 \"message 1 from bob\"",
        "alice woke up",
        "alice -> bob  #2 \"message 2 from alice\" (reply to #1)",
        "the hook exited 2",
        "| are you still there?",
        "wake-up latency through bus-shim over 2 messages: median",
        "wake-up latency of the Stop hook:",
    ] {
        assert!(out.stdout.contains(needle), "{needle:?} missing");
    }
}
