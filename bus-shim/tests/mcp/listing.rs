//! The tool listing: twelve tools, each with a description and an output schema, described
//! argument by argument, and the whole `tools/list` reply under 10,000 characters.

use rmcp::model::{ListToolsResult, ServerResult};

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn tools_list_is_complete_described_and_small() {
    let bus = TempBus::empty();
    let s = bus.session().await;
    let reply = s
        .client
        .send_request(rmcp::model::ClientRequest::ListToolsRequest(
            Default::default(),
        ))
        .await
        .expect("tools/list");
    let ServerResult::ListToolsResult(list) = reply else {
        panic!("not a tool list: {reply:?}")
    };
    let ListToolsResult { tools, .. } = &list;
    assert_eq!(tools.len(), 12);
    for tool in tools {
        let name = &tool.name;
        assert!(
            tool.description.as_deref().is_some_and(|d| !d.is_empty()),
            "{name} has a description"
        );
        let output = tool
            .output_schema
            .as_ref()
            .unwrap_or_else(|| panic!("{name} declares an output schema"));
        assert_eq!(
            output.get("type").and_then(|t| t.as_str()),
            Some("object"),
            "{name}"
        );
        let props = tool
            .input_schema
            .get("properties")
            .and_then(|p| p.as_object())
            .cloned()
            .unwrap_or_default();
        for (arg, schema) in props {
            assert!(
                schema.get("description").is_some(),
                "{name}.{arg} has a description"
            );
        }
    }
    let json = serde_json::to_string(&list).unwrap();
    assert!(
        json.len() < 10_000,
        "the tools/list reply is {} characters",
        json.len()
    );
}

/// What Claude Code and the MCP Inspector read without a warning and convert: no `format` that
/// JSON Schema does not define, every argument of one type (an optional one is left out, not
/// null), `limit` from 1, and `mode` as a string with its two values.
#[tokio::test]
async fn schemas_are_ones_common_clients_accept_and_convert() {
    let bus = TempBus::empty();
    let s = bus.named("a").await;
    let tools = s.tools().await;
    let listing = serde_json::to_string(&tools).unwrap();
    assert!(!listing.contains("\"format\""), "{listing}");
    for tool in &tools {
        let props = tool.input_schema["properties"].as_object().unwrap();
        for (arg, schema) in props {
            assert!(
                schema["type"].is_string(),
                "{}.{arg} has one type: {schema}",
                tool.name
            );
            assert!(
                schema.get("default") != Some(&serde_json::Value::Null),
                "{}.{arg}: {schema}",
                tool.name
            );
        }
    }
    let inbox = tools.iter().find(|t| t.name == "inbox").unwrap();
    assert_eq!(inbox.input_schema["properties"]["limit"]["minimum"], 1);
    assert_eq!(inbox.input_schema["properties"]["limit"]["maximum"], 1000);

    // An explicit null is still an omitted argument.
    let sent = s
        .ok("send", json!({"to": "b", "content": "x", "reply_to": null}))
        .await;
    assert_eq!(sent["id"], 1);
    s.ok("register", json!({"name": "a", "owns": null, "role": null}))
        .await;
    let why = s
        .err(
            "set_state",
            json!({"key": "k", "value": "v", "mode": "prepend"}),
        )
        .await;
    assert!(why.contains("mode (\"overwrite\"|\"append\")"), "{why}");
}
