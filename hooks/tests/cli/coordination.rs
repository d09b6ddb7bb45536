//! `bus state get --after-version --wait`, `bus send --wait-reply` and `bus thread`.

use serde_json::{Value, json};

use crate::common::Bus;

#[tokio::test]
async fn state_get_waits_for_the_key_to_pass_a_version() {
    let bus = Bus::start().await;
    let waiting = bus
        .bus(&[
            "state",
            "get",
            "schema",
            "--after-version",
            "1",
            "--wait",
            "60",
            "--json",
        ])
        .start()
        .await;
    for (key, value) in [("schema", "v1"), ("other", "x"), ("schema", "v2")] {
        let set = bus
            .bus(&["state", "set", key, value, "--as", "api"])
            .run()
            .await;
        assert_eq!(set.code, 0, "{set:?}");
    }
    let got = waiting.finish().await;
    assert_eq!(got.code, 0, "{got:?}");
    assert_eq!(got.json()["state"][0]["value"], "v2");
    assert_eq!(got.json()["state"][0]["version"], 2);

    let past = bus
        .bus(&[
            "state",
            "get",
            "schema",
            "--after-version",
            "1",
            "--wait",
            "3600",
        ])
        .run()
        .await;
    assert!(
        past.stdout.starts_with("schema (version 2 by api"),
        "{past:?}"
    );
    let none = bus
        .bus(&[
            "state",
            "get",
            "schema",
            "--after-version",
            "2",
            "--wait",
            "0.2",
        ])
        .run()
        .await;
    assert_eq!(
        (none.code, none.stdout.as_str()),
        (0, "not past version 2\n")
    );
    let none = bus
        .bus(&["state", "get", "schema", "--after-version", "2", "--json"])
        .run()
        .await;
    assert_eq!(none.json(), json!({"state": []}));
    let usage = bus.bus(&["state", "get", "--wait", "1"]).run().await;
    assert_eq!(usage.code, 2, "--wait needs a key: {usage:?}");
}

#[tokio::test]
async fn send_wait_reply_prints_the_reply_and_takes_it_from_the_inbox() {
    let bus = Bus::start().await;
    let asking = bus
        .bus(&[
            "send",
            "bob",
            "which port?",
            "--wait-reply",
            "60",
            "--as",
            "alice",
            "--json",
        ])
        .start()
        .await;
    let question = bus
        .bus(&["inbox", "--as", "bob", "--wait", "60", "--json"])
        .run()
        .await
        .json();
    let question = question["messages"][0]["id"].to_string();
    let answer = bus
        .bus(&[
            "send",
            "alice",
            "8080",
            "--reply-to",
            &question,
            "--as",
            "bob",
            "--json",
        ])
        .run()
        .await
        .json();
    let asked = asking.finish().await;
    assert_eq!(asked.code, 0, "{asked:?}");
    let asked = asked.json();
    assert_eq!(asked["id"].to_string(), question);
    assert_eq!(asked["to"], "bob");
    assert_eq!(asked["reply"]["id"], answer["id"]);
    assert_eq!(asked["reply"]["content"], "8080");
    let inbox = bus.bus(&["inbox", "--as", "alice", "--json"]).run().await;
    assert_eq!(inbox.json(), json!({"messages": [], "pending_count": 0}));

    let unanswered = bus
        .bus(&[
            "send",
            "bob",
            "anyone?",
            "--wait-reply",
            "0.2",
            "--as",
            "alice",
        ])
        .run()
        .await;
    assert_eq!(unanswered.code, 0, "{unanswered:?}");
    assert!(
        unanswered.stdout.contains("no reply within"),
        "{unanswered:?}"
    );
    let text = bus
        .bus(&["send", "bob", "plain", "--as", "alice", "--json"])
        .run()
        .await
        .json();
    assert!(
        text.get("reply").is_none(),
        "a plain send has no reply field: {text}"
    );
}

#[tokio::test]
async fn thread_prints_the_reply_chain_as_a_tree() {
    let bus = Bus::start().await;
    let send = |to: &'static str, content: &'static str, as_: &'static str, reply: Option<&str>| {
        let mut args = vec!["send", to, content, "--as", as_, "--json"];
        if let Some(r) = reply {
            args.extend(["--reply-to", r]);
        }
        let cmd = bus.bus(&args);
        async move { cmd.run().await.json()["id"].to_string() }
    };
    let root = send("bob", "login change?", "alice", None).await;
    let r1 = send("alice", "yes", "bob", Some(&root)).await;
    let r2 = send("all", "me too", "carol", Some(&root)).await;
    let _r11 = send("bob", "thanks", "alice", Some(&r1)).await;
    let _hidden = send("carol", "between us", "bob", Some(&r2)).await;

    let tree = bus.bus(&["thread", &r1, "--as", "alice"]).run().await;
    assert_eq!(tree.code, 0, "{tree:?}");
    let heads: Vec<&str> = tree.stdout.lines().filter(|l| l.contains('#')).collect();
    let heads: Vec<String> = heads
        .iter()
        .map(|l| l.split(" at ").next().unwrap().to_owned())
        .collect();
    assert_eq!(
        heads,
        [
            "#1 from alice to bob",
            "  #2 from bob to alice",
            "    #4 from alice to bob",
            "  #3 from carol to all",
        ],
        "{}",
        tree.stdout
    );
    let json = bus
        .bus(&["thread", &root, "--as", "carol", "--json"])
        .run()
        .await
        .json();
    let ids: Vec<Value> = json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!(3), json!(5)],
        "carol sees her broadcast and her mail"
    );
    let unread = bus
        .bus(&["inbox", "--as", "alice", "--peek", "--json"])
        .run()
        .await;
    assert_eq!(unread.json()["pending_count"], 2, "bus thread read nothing");
}
