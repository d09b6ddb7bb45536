//! A bus reached over HTTP: `BUS_URL` (an HTTP front's `/mcp` endpoint, `bus-shim --http`)
//! with `BUS_TOKEN`, for a machine that has only the `bus` binary.
//!
//! One MCP streamable-HTTP session (rmcp's client over reqwest) per `bus` process, opened at
//! the first call with `bus-acting: 1`, so that it acts as the token's name without holding it,
//! beside the Claude Code session that does, and closed (DELETE) when the process ends
//! ([`close_all`]). Each [`Request`] the commands and hooks make becomes a call of the tool the
//! shim serves it with ([`tools`]), and the tool's JSON result the same [`Response`], so
//! commands print the same output either way. The token binds the name: `--as` another name
//! is refused. What only busd's socket offers (`bus tail`, `bus stop`, `bus token`) is refused
//! with a note saying so.

mod tls;
mod tools;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::client::{ClientError, call};
use proto::{ErrorKind, Identity, Request, Response, WireError};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{Peer, RoleClient, ServiceExt};
use tokio::sync::OnceCell;

/// The header asking the front for a session that acts as the token's name without holding
/// it (bus-shim's `ACTING_HEADER`).
const ACTING_HEADER: &str = "bus-acting";

/// How long closing the sessions at exit may take: the front reclaims what it cannot close.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// The sessions this process opened, to close as it ends.
static OPEN: Mutex<Vec<RunningService<RoleClient, ()>>> = Mutex::new(Vec::new());

/// Close every session this process opened (each a DELETE to its front), so that the front
/// need not wait for them to go idle. Bounded by [`CLOSE_WITHIN`].
pub async fn close_all() {
    let open = std::mem::take(&mut *OPEN.lock().unwrap());
    let closing = futures::future::join_all(open.into_iter().map(|s| s.cancel()));
    let _ = tokio::time::timeout(CLOSE_WITHIN, closing).await;
}

/// Where a remote bus is and how to prove who this is.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    pub url: String,
    pub token: String,
    /// `BUS_CA`: a PEM file of certificates to trust beside the system's roots.
    pub ca: Option<PathBuf>,
}

impl RemoteOptions {
    /// `BUS_URL`, `BUS_TOKEN` and `BUS_CA`; `None` when `BUS_URL` is unset or empty.
    pub fn from_env() -> anyhow::Result<Option<RemoteOptions>> {
        let Some(url) = env("BUS_URL") else {
            return Ok(None);
        };
        let token = env("BUS_TOKEN").ok_or_else(|| {
            anyhow::anyhow!(
                "BUS_URL is set but BUS_TOKEN is not: set BUS_TOKEN to a token made with \
                 `bus token create NAME` on the bus's machine"
            )
        })?;
        Ok(Some(RemoteOptions {
            url,
            token,
            ca: env("BUS_CA").map(PathBuf::from),
        }))
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// An MCP session with an HTTP front, opened at the first call. Cheap to clone.
#[derive(Clone)]
pub struct Remote {
    opts: Arc<RemoteOptions>,
    session: Arc<OnceCell<Peer<RoleClient>>>,
    name: Arc<OnceCell<Option<String>>>,
}

impl Remote {
    pub fn new(opts: RemoteOptions) -> Remote {
        Remote {
            opts: Arc::new(opts),
            session: Arc::default(),
            name: Arc::default(),
        }
    }

    pub fn url(&self) -> &str {
        &self.opts.url
    }

    async fn session(&self) -> Result<&Peer<RoleClient>, ClientError> {
        self.session
            .get_or_try_init(|| async {
                let http = tls::http_client(self.opts.ca.as_deref())
                    .map_err(|e| ClientError::Unavailable(format!("{e:#}")))?;
                let acting = HashMap::from([(
                    http::HeaderName::from_static(ACTING_HEADER),
                    http::HeaderValue::from_static("1"),
                )]);
                let config = StreamableHttpClientTransportConfig::with_uri(self.opts.url.as_str())
                    .auth_header(self.opts.token.clone())
                    .custom_headers(acting);
                let transport = StreamableHttpClientTransport::with_client(http, config);
                let service = ().serve(transport).await.map_err(|e| self.refused(e))?;
                let peer = service.peer().clone();
                OPEN.lock().unwrap().push(service);
                Ok(peer)
            })
            .await
    }

    /// Why the session could not be opened: a refused token says so plainly.
    fn refused(&self, error: rmcp::service::ClientInitializeError) -> ClientError {
        let detail = format!("{error:?}");
        if detail.contains("AuthRequired") || detail.contains("401") {
            return ClientError::Refused(WireError::new(
                ErrorKind::Unauthorized,
                format!(
                    "the bus at {} refused BUS_TOKEN (401): the token is wrong or was revoked; \
                     make a new one with `bus token create NAME` on the bus's machine",
                    self.opts.url
                ),
            ));
        }
        ClientError::Unavailable(format!(
            "cannot open an MCP session with BUS_URL {}: {error}",
            self.opts.url
        ))
    }

    /// The name the token binds.
    pub async fn name(&self) -> Result<Option<String>, ClientError> {
        self.name
            .get_or_try_init(|| async {
                let (whoami, answer) = call::whoami().split();
                Ok(answer.read(self.tool(&whoami).await?)?.name)
            })
            .await
            .cloned()
    }

    /// Answer `request` through the tool that serves it.
    pub async fn call(&self, request: Request) -> Result<Response, ClientError> {
        match &request {
            Request::Resolve { .. } => Ok(Response::Identity(Identity {
                name: self.name().await?,
            })),
            Request::ActAs { name } => match self.name().await? {
                // As busd answers it: the name now acted as.
                Some(bound) if bound == *name => {
                    Ok(Response::Identity(Identity { name: Some(bound) }))
                }
                bound => Err(ClientError::Refused(WireError::new(
                    ErrorKind::Forbidden,
                    format!(
                        "BUS_TOKEN binds the name '{}' on the bus at {}: acting as '{name}' is \
                         refused (drop --as and BUS_NAME, or use '{name}''s own token)",
                        bound.as_deref().unwrap_or("(none)"),
                        self.opts.url
                    ),
                ))),
            },
            // The front tells busd nothing of the Claude Code process on this machine.
            Request::Attach { .. } => Ok(Response::Identity(Identity { name: None })),
            _ => self.tool(&request).await,
        }
    }

    async fn tool(&self, request: &Request) -> Result<Response, ClientError> {
        let Some((tool, args)) = tools::tool_of(request) else {
            return Err(ClientError::Refused(WireError::new(
                ErrorKind::Forbidden,
                format!(
                    "{} works only on a local bus, not over BUS_URL: run it on the bus's machine",
                    tools::command_of(request)
                ),
            )));
        };
        let session = self.session().await?;
        let serde_json::Value::Object(args) = args else {
            unreachable!("tool arguments are an object")
        };
        let params = CallToolRequestParams::new(tool).with_arguments(args);
        let result = session.call_tool(params).await.map_err(|e| {
            ClientError::Unavailable(format!("the bus at {} did not answer: {e}", self.opts.url))
        })?;
        let text = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        if result.is_error == Some(true) {
            // A tool's refusal carries its text only: the shim words busd's being away so.
            if text.starts_with("the bus is unavailable") {
                return Err(ClientError::Unavailable(text));
            }
            return Err(ClientError::Refused(WireError::new(
                ErrorKind::Forbidden,
                text,
            )));
        }
        let value = match result.structured_content {
            Some(value) => value,
            None => serde_json::from_str(&text).map_err(|e| bad_answer(tool, e))?,
        };
        tools::response_of(request, value).map_err(|e| bad_answer(tool, e))
    }
}

fn bad_answer(tool: &str, e: serde_json::Error) -> ClientError {
    ClientError::NoAnswer(format!(
        "the bus's {tool} tool answered in a form this bus does not read ({e}): is the HTTP \
         front the same version as bus?"
    ))
}
