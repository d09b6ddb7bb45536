//! `bus-shim --http ADDR`: the twelve tools over MCP's streamable HTTP transport at `/mcp`.
//!
//! Each HTTP MCP session is a bus session of its own, exactly like a stdio shim: its own
//! [`Bus`] over its own connection to busd, registered at once under the name its bearer token
//! binds ([`front`]). Transport security: TLS from PEM files ([`tls`]), plain HTTP only on
//! loopback unless `--insecure-http`, the `Origin` and `Host` headers validated, bodies,
//! connections and sessions bounded, idle sessions closed (which frees their names).

mod front;
mod throttle;
mod tls;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use proto::ClientKind;
use proto::client::{Client, ClientOptions};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cli::Args;
use crate::tools::Bus;
use front::{BINDING, Front};

/// The largest request body read (a 1 MiB state value, escaped, fits).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// The most TCP connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 2048;
/// How often an open SSE stream carries a keep-alive comment.
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a client may take to send a request's headers, or to finish a TLS handshake.
const HEADER_WITHIN: Duration = Duration::from_secs(10);

/// Origins always allowed: pages of this machine. A DNS-rebinding page has its own origin.
const LOOPBACK_ORIGINS: [&str; 6] = [
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "http://[::1]:*",
    "https://[::1]:*",
];

/// Serve until SIGTERM or SIGINT.
pub async fn serve(args: &Args, addr: &str) -> anyhow::Result<()> {
    let addr: SocketAddr = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("cannot resolve the --http address '{addr}': give host:port"))?
        .next()
        .with_context(|| format!("the --http address '{addr}' resolves to nothing"))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    if tls.is_none() && !addr.ip().is_loopback() {
        if !args.insecure_http {
            anyhow::bail!(
                "refusing plain HTTP on {addr}, which is not loopback: tokens would cross the \
                 network in clear text; give --tls-cert and --tls-key, or --insecure-http behind \
                 a TLS proxy"
            );
        }
        tracing::warn!(%addr, "serving plain HTTP on a non-loopback address (--insecure-http): tokens cross the network in clear text");
    }

    let mut opts = ClientOptions::from_env(ClientKind::Shim)?;
    opts.session_id = None;
    let auth = Client::new(opts.clone());
    // Like every client: start busd now if none runs, so that a missing daemon shows early.
    auth.connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach busd: {e}"))?;

    let idle = Duration::from_secs(args.idle_timeout.max(2));
    // A wait without progress notifications is traffic-free: it ends before the session would
    // be closed as idle.
    let quiet_wait_max = (idle.as_secs_f64() - 1.0).max(1.0);
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(idle);
    let sessions = Arc::new(sessions);
    let mut config = StreamableHttpServerConfig::default()
        // An SSE comment this often keeps a waiting call's stream alive under clients' read
        // timeouts (the Python MCP SDK's is 300 s, and 30 s for a client of its own making).
        .with_sse_keep_alive(Some(SSE_KEEP_ALIVE))
        .with_max_request_body_bytes(MAX_BODY)
        .with_allowed_origins(
            LOOPBACK_ORIGINS
                .into_iter()
                .map(String::from)
                .chain(args.allow_origin.iter().cloned()),
        )
        .enforce_origin_validation();
    config = match (addr.ip().is_loopback(), args.allow_host.is_empty()) {
        (true, true) => config,
        (_, false) => config.with_allowed_hosts(
            ["localhost", "127.0.0.1", "::1"]
                .into_iter()
                .map(String::from)
                .chain(args.allow_host.iter().cloned()),
        ),
        (false, true) => config.disable_allowed_hosts(),
    };
    let paths = opts.paths.clone();
    let factory = move || {
        let binding = BINDING
            .try_with(|binding| binding.clone())
            .map_err(|_| std::io::Error::other("an HTTP session without a token"))?;
        let (who, client) = (binding.who, Client::new(opts.clone()));
        tracing::info!(name = who.name, acting = binding.acting, "new HTTP session");
        Ok(match binding.acting {
            true => Bus::acting(client, who.name, quiet_wait_max),
            false => Bus::bound(client, who.name, who.role, quiet_wait_max),
        })
    };
    let mcp = StreamableHttpService::new(factory, sessions.clone(), config);
    let front = Arc::new(Front {
        auth,
        mcp,
        sessions,
        owners: Default::default(),
        max_sessions: args.max_sessions.max(1),
        max_body: MAX_BODY,
        throttle: Default::default(),
        tls: tls.is_some(),
        paths,
    });

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        "serving MCP at {scheme}://{}{}",
        listener.local_addr()?,
        front::PATH
    );
    // Say where, on stderr, for a person who started it by hand (and for tests on port 0).
    eprintln!(
        "bus-shim: serving MCP at {scheme}://{}{}",
        listener.local_addr()?,
        front::PATH
    );

    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let accept = async {
        loop {
            let permit = slots.clone().acquire_owned().await?;
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of descriptors, say: let connections end before the next accept.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Small request/response exchanges: without TCP_NODELAY each one waits ~40 ms for
            // Nagle's algorithm to meet the peer's delayed ACK.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
            let (front, tls) = (front.clone(), tls.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |request| {
                    let front = front.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(front.handle(peer.ip(), request).await)
                    }
                });
                let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                http.http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_WITHIN);
                let served = match tls {
                    Some(tls) => {
                        match tokio::time::timeout(HEADER_WITHIN, tls.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                http.serve_connection(TokioIo::new(stream), service).await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        }
                    }
                    None => http.serve_connection(TokioIo::new(stream), service).await,
                };
                if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                }
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), anyhow::Error>(())
    };
    tokio::select! {
        result = accept => result,
        () = shutdown_signal() => {
            tracing::info!("stopping the HTTP front");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
