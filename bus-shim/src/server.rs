//! The MCP server handler: server info, tool listing, and refused arguments as tool errors.

use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use std::borrow::Cow;

use crate::channel;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use crate::tools::Bus;

/// What the model reads about the server (Claude Code puts it in the system prompt): short,
/// and naming the tools as Claude Code lists them, with the ToolSearch call that loads them
/// where MCP tools are deferred, so the first call finds them.
fn instructions() -> String {
    let t = proto::host::tool_name;
    format!(
        "claude-bus connects the Claude Code sessions on this machine: mail, shared state, file \
         claims. Its tools are {} (register, send, inbox, agents, get_state, claim, ...). If they \
         are deferred, load them first with {}. Start with register(name); answer mail with \
         send(to, content, reply_to); to listen, call inbox(wait=...) in a loop.",
        t("*").replace('*', "<tool>"),
        proto::host::tool_search(&["register", "send", "inbox", "agents"])
    )
}

/// How rmcp words arguments that do not deserialize.
const ARGUMENT_ERROR: &str = "failed to deserialize parameters:";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bus {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder().enable_tools().build();
        if channel::enabled() {
            capabilities.experimental = Some(channel::capability());
        }
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("claude-bus", proto::VERSION))
            .with_instructions(instructions())
    }

    /// With channels on, no revision without `initialize` (2026-07-28): Claude Code takes
    /// channel notifications only over the older ones.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        if channel::enabled() {
            channel::protocols()
        } else {
            Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if channel::enabled() {
            channel::start(self.client.clone(), self.named.subscribe(), context.peer);
        }
    }

    /// Like the generated one, but a refusal of the arguments themselves (wrong types, missing
    /// fields) names the tool and lists its arguments, so the model can fix the call.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let tcc = ToolCallContext::new(self, request, context);
        let mut response = self.tool_router.call(tcc).await?;
        if let CallToolResponse::Complete(result) = &mut response
            && result.is_error == Some(true)
            && let Some(text) = result.content.first().and_then(|c| c.as_text())
            && let Some(why) = text.text.strip_prefix(ARGUMENT_ERROR)
        {
            let text = format!("invalid arguments for {name}:{why}{}", self.usage(&name));
            *result = CallToolResult::error(vec![ContentBlock::text(text)]);
        }
        Ok(response)
    }
}

impl Bus {
    /// "; arguments: to (string), content (string), ..." from the tool's input schema.
    fn usage(&self, tool: &str) -> String {
        let Some(tool) = self.tool_router.get(tool) else {
            return String::new();
        };
        let Some(props) = tool
            .input_schema
            .get("properties")
            .and_then(|p| p.as_object())
        else {
            return String::new();
        };
        let args: Vec<String> = props
            .iter()
            .map(|(name, schema)| {
                if let Some(serde_json::Value::Array(values)) = schema.get("enum") {
                    let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                    return format!("{name} ({})", values.join("|"));
                }
                let ty = schema
                    .get("type")
                    .map(|t| match t {
                        serde_json::Value::Array(types) => types
                            .iter()
                            .filter_map(|t| t.as_str())
                            .filter(|t| *t != "null")
                            .collect::<Vec<_>>()
                            .join("|"),
                        other => other.as_str().unwrap_or("value").to_owned(),
                    })
                    .unwrap_or_else(|| "value".to_owned());
                format!("{name} ({ty})")
            })
            .collect();
        if args.is_empty() {
            String::new()
        } else {
            format!("; arguments: {}", args.join(", "))
        }
    }
}
