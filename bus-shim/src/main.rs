//! bus-shim: the stdio MCP server Claude Code launches, one per session, forwarding to busd.
//!
//! stdout carries MCP frames only; logs go to stderr.

mod channel;
mod held;
mod params;
mod server;
mod stdio;
mod tools;

use proto::ClientKind;
use proto::client::{Client, ClientOptions};
use rmcp::ServiceExt;

// One thread: a call crosses no thread inside the shim.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();

    let client = Client::new(ClientOptions::from_env(ClientKind::Shim)?);
    let name = std::env::var("BUS_NAME").ok().filter(|n| !n.is_empty());
    let bus = tools::Bus::new(client, name);
    let service = bus.serve(stdio::transport()).await?;
    service.waiting().await?;
    Ok(())
}
