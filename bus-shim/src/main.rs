//! bus-shim: the stdio MCP server Claude Code launches, one per session, forwarding to busd.
//!
//! stdout carries MCP frames only; logs go to stderr.

mod channel;
mod cli;
mod held;
mod http;
mod params;
mod schema;
mod server;
mod stdio;
mod tools;

use std::process::ExitCode;

use clap::Parser;
use proto::ClientKind;
use proto::client::{Client, ClientOptions};
use rmcp::ServiceExt;

// One thread: a call crosses no thread inside the shim.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // `--help` and `--version` print and exit here, before anything reads stdin.
    let args = cli::Args::parse();
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bus-shim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: cli::Args) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();

    if let Some(addr) = args.http_addr() {
        return http::serve(&args, &addr).await;
    }
    let client = Client::new(ClientOptions::from_env(ClientKind::Shim)?);
    let name = std::env::var("BUS_NAME").ok().filter(|n| !n.is_empty());
    let bus = tools::Bus::new(client, name);
    let service = bus.serve(stdio::transport()).await.map_err(|e| {
        anyhow::anyhow!(
            "{e}: no MCP client initialized the session on stdin; bus-shim is the MCP server \
             that Claude Code launches (see bus-shim --help)"
        )
    })?;
    service.waiting().await?;
    Ok(())
}
