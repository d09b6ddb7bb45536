//! The tool listing: twelve tools, each with a description and an output schema, described
//! argument by argument, and the whole `tools/list` reply under 10,000 characters.

use rmcp::model::{ListToolsResult, ServerResult};

use crate::common::*;

#[tokio::test]
async fn tools_list_is_complete_described_and_small() {
    let bus = Bus::new();
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
