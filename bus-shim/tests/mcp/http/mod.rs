//! `bus-shim --http`: the real binary serving MCP over streamable HTTP, driven by rmcp's
//! streamable-HTTP client (reqwest), with tokens made through busd.

mod binding;
mod chromium;
mod hostile;
mod tools;
mod view;

use std::path::Path;
use std::sync::Arc;

use proto::client::{Client, ClientOptions};
use proto::{ClientKind, Request, Response};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::*;

/// A running `bus-shim --http` on a temp bus; killed on drop.
pub struct Front {
    pub url: String,
    /// Killed when the test ends.
    _child: Child,
    http: reqwest::Client,
}

impl Front {
    /// `bus-shim --http 127.0.0.1:0 ARGS…` on `bus`; returns once it says where it listens.
    pub async fn start(bus: &TempBus, args: &[&str]) -> Front {
        Front::start_with_roots(bus, args, None).await
    }

    pub async fn start_with_roots(bus: &TempBus, args: &[&str], root: Option<&[u8]>) -> Front {
        let mut child = Command::new(shim_exe())
            .arg("--http")
            .arg("127.0.0.1:0")
            .args(args)
            .env("BUS_DB", bus.db())
            .env("BUS_DAEMON", busd_exe())
            .env("BUS_LOG", "info")
            .env_remove("BUS_NAME")
            .env_remove("BUS_SOCKET")
            .env_remove("BUS_HTTP")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn bus-shim --http");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.expect("read stderr") {
                eprintln!("{line}");
                if let Some(url) = line.split("serving MCP at ").nth(1) {
                    return url.trim().to_owned();
                }
            }
            panic!("bus-shim --http exited before serving")
        })
        .await
        .expect("bus-shim --http serves in time");
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
            }
        });
        let url = match root {
            Some(_) => url.replace("127.0.0.1", "localhost"),
            None => url,
        };
        Front {
            url,
            _child: child,
            http: http_client(root),
        }
    }

    /// An MCP session with `token`; fails as the client does (401 and all).
    pub async fn try_session(
        &self,
        token: &str,
    ) -> Result<Session, rmcp::service::ClientInitializeError> {
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.as_str())
            .auth_header(token.to_owned());
        let transport = StreamableHttpClientTransport::with_client(self.http.clone(), config);
        Session::over(transport).await
    }

    /// A session that acts as the token's name without holding it (`bus-acting: 1`), as the
    /// `bus` command and hooks over `BUS_URL` open.
    pub async fn acting_session(&self, token: &str) -> Session {
        let acting = std::collections::HashMap::from([(
            http::HeaderName::from_static("bus-acting"),
            http::HeaderValue::from_static("1"),
        )]);
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.as_str())
            .auth_header(token.to_owned())
            .custom_headers(acting);
        let transport = StreamableHttpClientTransport::with_client(self.http.clone(), config);
        Session::over(transport)
            .await
            .expect("an acting HTTP session")
    }

    pub async fn session(&self, token: &str) -> Session {
        self.try_session(token).await.expect("an HTTP MCP session")
    }

    /// A raw POST to the endpoint: the status and body text.
    pub async fn post(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, String) {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.expect("an HTTP answer");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}

/// An initialize request body.
pub fn initialize() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "0"}}
    })
    .to_string()
}

/// A reqwest client on rustls with ring, trusting only `root` (when given).
fn http_client(root: Option<&[u8]>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = root {
        use rustls_pki_types::pem::PemObject;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
            roots.add(cert.expect("a PEM certificate")).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .expect("a reqwest client")
}

/// A client of the bus's busd, as `bus token` is.
pub fn admin(db: &Path) -> Client {
    let mut opts = ClientOptions::new(
        proto::paths::BusPaths::new(db.to_path_buf(), None),
        ClientKind::Cli,
    );
    opts.busd = Some(busd_exe());
    Client::new(opts)
}

/// A new token for `name` (and `role`), made through busd.
pub async fn token(bus: &TempBus, name: &str, role: Option<&str>) -> String {
    let request = Request::TokenCreate {
        name: name.to_owned(),
        role: role.map(str::to_owned),
    };
    match admin(bus.db()).call(request).await.expect("token created") {
        Response::TokenCreated(created) => created.token,
        other => panic!("not a token: {other:?}"),
    }
}
