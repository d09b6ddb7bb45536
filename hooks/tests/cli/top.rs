//! `bus top` in a real terminal: tmux runs it at 80×24 against a temp bus; mail and a claim
//! made by other sessions appear without a key press; a resize redraws; `q` quits and leaves
//! the terminal as it was (primary screen, cooked mode). Without tmux the test says so in one
//! line and skips; with `BUS_E2E_REQUIRE=1` (CI) it fails instead.

use std::io::Write as _;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{Bus, bus_exe, sibling};

/// A private tmux server; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(line: &str, width: u16, height: u16) -> Option<Tmux> {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            if std::env::var_os("BUS_E2E_REQUIRE").is_some_and(|v| v == "1") {
                panic!("BUS_E2E_REQUIRE=1 but tmux is not on PATH for the `bus top` test");
            }
            let _ = writeln!(
                std::io::stderr(),
                "skipping the `bus top` test: tmux is not on PATH"
            );
            return None;
        }
        let tmux = Tmux {
            socket: format!("claude-bus-top-{}", std::process::id()),
        };
        let out = tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "-s",
            "top",
            line,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        Some(tmux)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env("TERM", "xterm-256color")
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "top"]).stdout).into()
    }

    fn show(&self, format: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", "top", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The screen once `ready` holds for it (the screen is read every 50 ms: tmux has no
    /// event for "the screen now shows X"), or a panic with the last screen.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{what} never showed:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test]
async fn bus_top_shows_new_mail_and_claims_live_resizes_and_restores_the_terminal() {
    let bus = Bus::start().await;
    let setup = bus
        .bus(&[
            "register",
            "api",
            "--role",
            "backend",
            "--owns",
            "src/api/**",
        ])
        .run()
        .await;
    assert_eq!(setup.code, 0, "{setup:?}");
    bus.bus(&["--as", "web", "claim", "src/api/routes.rs"])
        .run()
        .await;
    let line = format!(
        "env BUS_DB={} BUS_DAEMON={} {} top; echo EXIT=$?; stty -a; exec cat",
        quote(&bus.paths.db.to_string_lossy()),
        quote(&sibling("busd").to_string_lossy()),
        quote(&bus_exe().to_string_lossy()),
    );
    let Some(tmux) = Tmux::start(&line, 80, 24) else {
        return;
    };
    let first = tmux.wait_for("the agents pane", |s| {
        s.contains("agents (") && s.contains("api")
    });
    assert_eq!(tmux.show("#{alternate_on}"), "1", "a full-screen view");
    assert!(first.contains("backend"), "{first}");
    assert!(
        first.contains("src/api/routes.rs"),
        "the claim made before: {first}"
    );

    // Another session writes: the view shows it with no key pressed.
    let sent = bus
        .bus(&["--as", "web", "send", "api", "is the schema frozen?"])
        .run()
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    tmux.wait_for("the new message", |s| {
        s.contains("web → api") && s.contains("is the schema frozen?")
    });
    bus.bus(&["--as", "api", "send", "web", "yes, v2", "--reply-to", "1"])
        .run()
        .await;
    bus.bus(&["--as", "ops", "send", "all", "deploy at five"])
        .run()
        .await;
    let screen = tmux.wait_for("the reply and the broadcast", |s| {
        s.contains("deploy at five") && s.contains("yes, v2")
    });
    assert!(
        screen.contains("↳ #2"),
        "the reply is indented under its message:\n{screen}"
    );
    assert!(
        screen.contains("ops ⇒ all"),
        "the broadcast is marked:\n{screen}"
    );
    bus.bus(&["--as", "ops", "claim", "deploy/prod.yaml", "--ttl", "600"])
        .run()
        .await;
    let screen = tmux.wait_for("the new claim", |s| s.contains("deploy/prod.yaml"));
    assert!(
        screen.contains("9:5") || screen.contains("10:00"),
        "time left:\n{screen}"
    );
    for row in screen.lines() {
        assert!(row.chars().count() <= 80, "fits 80 columns: {row:?}");
    }

    // A resize redraws at the new size.
    tmux.run(&["resize-window", "-t", "top", "-x", "100", "-y", "30"]);
    let screen = tmux.wait_for("the view at 100×30", |s| {
        s.lines().next().is_some_and(|l| l.contains("bus top"))
            && s.lines()
                .any(|l| l.starts_with('┌') && l.chars().count() == 100)
    });
    assert_eq!(screen.lines().count(), 30, "{screen}");

    // Open the thread of the reply (the second thread down: the broadcast is newer), then
    // close it.
    tmux.run(&["send-keys", "-t", "top", "Tab", "Down", "Down", "t"]);
    let screen = tmux.wait_for("the thread", |s| s.contains("thread of #1"));
    assert!(
        screen.contains("is the schema frozen?") && screen.contains("yes, v2"),
        "the thread in full:\n{screen}"
    );
    tmux.run(&["send-keys", "-t", "top", "Escape"]);
    tmux.wait_for("the thread closed", |s| !s.contains("thread of #1"));

    // q quits: the primary screen is back, and the terminal is in cooked mode again.
    tmux.run(&["send-keys", "-t", "top", "q"]);
    // `stty -a` prints after the exit code: wait for both (its lines name `icanon` either
    // way, as `icanon` or `-icanon`).
    let after = tmux.wait_for("the exit and stty", |s| {
        s.contains("EXIT=") && s.contains("icanon")
    });
    assert!(after.contains("EXIT=0"), "{after}");
    assert_eq!(
        tmux.show("#{alternate_on}"),
        "0",
        "left the alternate screen"
    );
    let flags: Vec<&str> = after.split_whitespace().collect();
    assert!(
        flags.contains(&"icanon") && flags.contains(&"echo"),
        "raw mode is off again: {after}"
    );
}
