//! Bus context from the very first request, even on a fresh bus where no busd runs yet and
//! the session's shim has not connected when Claude Code runs its SessionStart hook.

use crate::common::Bus;
use crate::fake_api::FakeApi;
use crate::install::claude;
use crate::session::Place;

#[tokio::test]
async fn the_first_request_on_a_fresh_bus_carries_bus_context() {
    let Some(claude) = claude() else { return };
    // No busd: the first Claude Code session of the day.
    let bus = Bus::empty();
    let api = FakeApi::start(Box::new(|_| None)).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice")]);
    let child = place.headless(&claude, "say hello");
    let out = api.finish(child).await;
    assert!(out.status.success(), "{out:?}");
    let requests = api.requests();
    let first = requests.first().expect("a request");
    assert!(
        first
            .text()
            .contains("SessionStart hook additional context: claude-bus: this session is 'alice'"),
        "the first request has no bus context: {:#?}",
        api.summary()
    );
}
