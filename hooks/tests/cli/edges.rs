//! Edges a newcomer or a script hits: arguments that are not UTF-8, output cut short, names
//! never seen, and exit codes that say what happened.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::common::Bus;

fn not_utf8() -> &'static OsStr {
    OsStr::from_bytes(b"caf\xe9")
}

#[tokio::test]
async fn an_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    let bus = Bus::empty();
    for args in [
        vec![OsStr::new("send"), OsStr::new("bob"), not_utf8()],
        vec![OsStr::new("--as"), not_utf8(), OsStr::new("inbox")],
    ] {
        let out = bus.bus_os(&args).run().await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {out:?}");
        assert!(out.stderr.contains("UTF-8"), "{args:?}: {out:?}");
    }
    assert!(!bus.daemon_running(), "a usage error starts no busd");
}

#[tokio::test]
async fn a_hook_with_an_argument_that_is_not_utf8_exits_0() {
    let bus = Bus::empty();
    for args in [
        vec![
            OsStr::new("hook"),
            OsStr::new("stop"),
            OsStr::new("--timeout"),
            not_utf8(),
        ],
        vec![
            OsStr::new("--as"),
            not_utf8(),
            OsStr::new("hook"),
            OsStr::new("prompt"),
        ],
        vec![OsStr::new("hook"), not_utf8()],
    ] {
        let out = bus.bus_os(&args).stdin("{}").run().await;
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {out:?}");
    }
}
