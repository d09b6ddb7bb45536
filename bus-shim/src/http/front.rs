//! Each HTTP request before rmcp sees it: the path, the bearer token, the session it names,
//! the bound on sessions; then the token's name is handed to the session it creates.
//!
//! A token is checked with busd on every request, so a revoked one is refused at once. A
//! session is bound to the name of the token that created it: a request naming it with
//! another token is answered as for an unknown session (404), so nothing tells one token's
//! holder about another's sessions.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use proto::client::{Client, ClientError, call};
use proto::{Authenticated, ErrorKind};
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use super::throttle::Throttle;
use crate::tools::Bus;

pub type Body = BoxBody<Bytes, Infallible>;

/// The path served (and the view's, [`super::view`]).
pub const PATH: &str = "/mcp";
const SESSION_HEADER: &str = "mcp-session-id";
/// The longest bearer token looked at (ours are 68 characters).
const TOKEN_MAX: usize = 256;
/// An oversize body declared up to this size is read (and dropped) before it is refused;
/// a larger one is refused at once.
const DRAIN_MAX: u64 = 64 * 1024 * 1024;
const DRAIN_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// The header by which a client asks to act as its token's name without holding it (`bus-acting:
/// 1` on its `initialize`): the `bus` command and hooks over `BUS_URL`, as `bus` does on the
/// socket, so that they work beside the session that holds the name.
pub const ACTING_HEADER: &str = "bus-acting";

/// Who a new session is, and whether it only acts as the name.
#[derive(Clone)]
pub struct Binding {
    pub who: Authenticated,
    pub acting: bool,
}

tokio::task_local! {
    /// The identity of the request being handled, for the session factory.
    pub static BINDING: Binding;
}

pub struct Front {
    /// Authenticates bearers (one connection to busd for the whole front).
    pub auth: Client,
    pub mcp: StreamableHttpService<Bus, LocalSessionManager>,
    pub sessions: Arc<LocalSessionManager>,
    /// Which name each live session was created for.
    pub owners: Mutex<HashMap<Arc<str>, String>>,
    pub max_sessions: usize,
    /// The largest request body (rmcp refuses one larger that declares no length).
    pub max_body: usize,
    pub throttle: Throttle,
    /// Served over TLS (the view's cookie is then `Secure`).
    pub tls: bool,
    /// The bus, for the view's own connections to busd.
    pub paths: proto::paths::BusPaths,
}

impl Front {
    pub async fn handle(&self, peer: IpAddr, request: Request<Incoming>) -> Response<Body> {
        if super::view::serves(request.uri().path()) {
            return super::view::handle(self, peer, request).await;
        }
        if request.uri().path() != PATH {
            return plain(StatusCode::NOT_FOUND, "not found: the MCP endpoint is /mcp");
        }
        if let Some(declared) = content_length(&request).filter(|n| *n > self.max_body as u64) {
            // Read what the client is sending before refusing it, so that it gets to read the
            // refusal instead of a connection reset in the middle of its upload.
            if declared <= DRAIN_MAX {
                let drain = drain(request.into_body());
                let _ = tokio::time::timeout(DRAIN_WITHIN, drain).await;
            }
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload too large: a request body is at most 4 MiB",
            );
        }
        let who = match self.authenticate(request.headers()).await {
            Ok(who) => who,
            Err(Refusal::Unauthorized) => {
                let delay = self.throttle.failed(peer);
                if !delay.is_zero() {
                    tracing::info!(%peer, ?delay, "repeated failed authentication; answering slowly");
                    tokio::time::sleep(delay).await;
                }
                let mut response = plain(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized: send `Authorization: Bearer <token>` with a token from `bus token create NAME`",
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return response;
            }
            Err(Refusal::Unavailable(why)) => {
                tracing::warn!("cannot authenticate: {why}");
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the bus is unavailable: retry in a moment",
                );
            }
        };
        let session = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match session {
            Some(id) => {
                let owner = self.owners.lock().unwrap().get(id.as_str()).cloned();
                if owner.as_deref() != Some(who.name.as_str()) {
                    return plain(StatusCode::NOT_FOUND, "Not Found: Session not found");
                }
                let delete = request.method() == http::Method::DELETE;
                let mut response = self.mcp.handle(request).await;
                // rmcp answers a closed session 202; clients (the Python SDK) expect 200 or 204.
                if delete && response.status() == StatusCode::ACCEPTED {
                    *response.status_mut() = StatusCode::OK;
                }
                response
            }
            None => self.new_session(who, request).await,
        }
    }

    /// A request without a session (an `initialize`): bounded in number, then bound to `who`.
    async fn new_session(&self, who: Authenticated, request: Request<Incoming>) -> Response<Body> {
        let live: Vec<Arc<str>> = {
            let sessions = self.sessions.sessions.read().await;
            sessions.keys().cloned().collect()
        };
        if live.len() >= self.max_sessions {
            tracing::warn!(
                max = self.max_sessions,
                "refused a new HTTP session: at the limit"
            );
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many sessions: close one, or raise bus-shim --max-sessions",
            );
        }
        let name = who.name.clone();
        let acting = request
            .headers()
            .get(ACTING_HEADER)
            .is_some_and(|v| v.as_bytes() == b"1");
        let binding = Binding { who, acting };
        let response = BINDING.scope(binding, self.mcp.handle(request)).await;
        if let Some(id) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            let mut owners = self.owners.lock().unwrap();
            // Forget sessions rmcp has closed (idle, deleted, ended).
            owners.retain(|id, _| live.contains(id));
            owners.insert(Arc::from(id), name);
        }
        response
    }

    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Authenticated, Refusal> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty() && t.len() <= TOKEN_MAX)
            .ok_or(Refusal::Unauthorized)?;
        self.authenticate_token(token).await
    }

    /// The name `token` binds, as busd says.
    pub async fn authenticate_token(&self, token: &str) -> Result<Authenticated, Refusal> {
        Front::check(&self.auth, token).await
    }

    /// The name `token` binds, asked of busd over `auth`.
    pub async fn check(auth: &Client, token: &str) -> Result<Authenticated, Refusal> {
        match auth.run(call::authenticate(token.to_owned())).await {
            Ok(who) => Ok(who),
            Err(ClientError::Refused(e)) if e.kind == ErrorKind::Unauthorized => {
                Err(Refusal::Unauthorized)
            }
            Err(e) => Err(Refusal::Unavailable(e.to_string())),
        }
    }
}

fn content_length(request: &Request<Incoming>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Read a body to its end, keeping nothing.
async fn drain(mut body: Incoming) {
    while let Some(Ok(_)) = body.frame().await {}
}

pub enum Refusal {
    Unauthorized,
    Unavailable(String),
}

pub fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(text.as_bytes())).boxed())
        .expect("a valid response")
}
