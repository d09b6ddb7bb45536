//! The shim's own command line. Claude Code launches it with no arguments and speaks MCP on its
//! stdin and stdout; `--http ADDR` serves the same tools over HTTP instead.

use std::path::PathBuf;

use clap::Parser;

/// The claude-bus MCP server of one Claude Code session: it speaks MCP on stdin and stdout and
/// forwards each tool call to busd, starting busd when none runs.
///
/// Claude Code launches it (see .mcp.json); run by hand it waits for an MCP client on stdin.
/// With --http it serves every session that has a token (`bus token create NAME`) over MCP's
/// streamable HTTP transport at /mcp instead.
/// Environment: BUS_NAME (a name to register at start), BUS_DB, BUS_SOCKET, BUS_LOG (log
/// filter for stderr), BUS_HTTP (as --http), BUS_HOST and BUS_PORT (the address of a bare
/// --http; default 127.0.0.1:8765).
#[derive(Debug, Parser)]
#[command(name = "bus-shim", version)]
pub struct Args {
    /// Serve MCP over HTTP at ADDR (host:port) instead of stdio.
    #[arg(long, env = "BUS_HTTP", value_name = "ADDR", num_args = 0..=1, default_missing_value = "")]
    pub http: Option<String>,
    /// The TLS certificate chain (PEM) of the HTTP front.
    #[arg(long, value_name = "FILE", requires_all = ["http", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM) of the HTTP front.
    #[arg(long, value_name = "FILE", requires_all = ["http", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other than loopback (tokens then cross the network in
    /// clear text).
    #[arg(long, requires = "http")]
    pub insecure_http: bool,
    /// A browser origin allowed to call besides loopback ones (scheme://host:port, `:*` for any
    /// port; repeat for several); requests with any other Origin header are refused
    /// (DNS-rebinding protection). Requests without one (not from a browser) are served.
    #[arg(long, value_name = "ORIGIN", requires = "http")]
    pub allow_origin: Vec<String>,
    /// A Host header value accepted besides loopback names (repeat for several); default for
    /// an address other than loopback: any.
    #[arg(long, value_name = "HOST", requires = "http")]
    pub allow_host: Vec<String>,
    /// Seconds after which an HTTP session with no traffic is closed and its name freed.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, requires = "http")]
    pub idle_timeout: u64,
    /// The most HTTP sessions served at once (each holds one of busd's 500 connections).
    #[arg(long, value_name = "N", default_value_t = 400, requires = "http")]
    pub max_sessions: usize,
}

impl Args {
    /// The HTTP address to serve, if HTTP was asked for: `--http ADDR` or `BUS_HTTP`, else
    /// `BUS_HOST`:`BUS_PORT` for a bare `--http`.
    pub fn http_addr(&self) -> Option<String> {
        let given = self.http.as_deref()?;
        if !given.is_empty() {
            return Some(given.to_owned());
        }
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let host = var("BUS_HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = var("BUS_PORT").unwrap_or_else(|| "8765".to_owned());
        Some(match host.contains(':') && !host.starts_with('[') {
            true => format!("[{host}]:{port}"),
            false => format!("{host}:{port}"),
        })
    }
}
