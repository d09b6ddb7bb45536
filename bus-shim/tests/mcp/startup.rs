//! Many sessions starting at once on a bus with no daemon share one busd between them.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn twenty_four_shims_started_at_once_start_exactly_one_busd() {
    let bus = TempBus::empty();
    let names: Vec<String> = (0..24).map(|i| format!("s{i}")).collect();
    let sessions = futures::future::join_all(names.iter().map(|name| {
        let bus = &bus;
        async move { bus.session_with(&[("BUS_NAME", name.as_str())]).await }
    }))
    .await;
    // Every session works and holds its own name.
    let whoami =
        futures::future::join_all(sessions.iter().map(|s| s.ok("whoami", json!({})))).await;
    for (name, me) in names.iter().zip(&whoami) {
        assert_eq!(me["name"], name.as_str());
    }
    let agents = sessions[0].ok("agents", json!({})).await;
    let online = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "online")
        .count();
    assert_eq!(online, 24);
    let daemons = bus.busd_processes();
    assert_eq!(
        daemons.len(),
        1,
        "exactly one busd for 24 shims: {daemons:?}"
    );
}
