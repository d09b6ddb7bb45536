//! Scenario 9 — the HTTP front (`bus-shim --http`) beside stdio, in the same run: call latency
//! (whoami, send) from rmcp's streamable-HTTP client, wake latency of an HTTP session waiting in
//! `inbox(wait)` woken by a send from a stdio session, and how many HTTP sessions one front
//! holds waiting at once, with the front's memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use proto::client::call;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Ctx;
use crate::fixture::{self, TempBus};
use crate::mcp::{Session, inbox_contents};
use crate::procs;
use crate::report::{self, Better, Figure, Report, Unit};
use crate::stats::Samples;

const SECTION: &str = "9 http";

struct Http {
    /// (what, over HTTP, over stdio)
    calls: Vec<(&'static str, Samples, Samples)>,
    wake_http: Samples,
    wake_stdio: Samples,
    waiting: usize,
    front_idle_mb: Option<f64>,
    front_waiting_mb: Option<f64>,
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let m = report::ours(report, "http", measure(ctx).await);
    for (i, what) in ["whoami", "send"].into_iter().enumerate() {
        let pick = |m: &Http, http: bool, p99: bool| {
            let (_, h, s) = &m.calls[i];
            let s = if http { h } else { s };
            if p99 { s.p99() } else { s.p50() }
        };
        for (transport, http) in [("HTTP", true), ("stdio", false)] {
            report.add(
                Figure::ms(SECTION, format!("{what} p50 over {transport}"))
                    .ours(report::value(&m, |m| pick(m, http, false).into())),
            );
            report.add(
                Figure::ms(SECTION, format!("{what} p99 over {transport}"))
                    .ours(report::value(&m, |m| pick(m, http, true).into())),
            );
        }
    }
    report.add(
        Figure::ms(SECTION, "wake p50, HTTP waiter, stdio sender")
            .ours(report::value(&m, |m| m.wake_http.p50().into())),
    );
    report.add(
        Figure::ms(SECTION, "wake p50, stdio waiter, stdio sender")
            .ours(report::value(&m, |m| m.wake_stdio.p50().into())),
    );
    report.add(
        Figure::new(
            SECTION,
            "HTTP sessions waiting at once",
            Unit::Count,
            Better::Higher,
        )
        .ours(report::value(&m, |m| (m.waiting as f64).into())),
    );
    report.add(
        Figure::new(SECTION, "front RSS, idle", Unit::Mb, Better::Lower)
            .ours(report::value(&m, |m| m.front_idle_mb.into())),
    );
    report.add(
        Figure::new(
            SECTION,
            "front RSS, those sessions waiting",
            Unit::Mb,
            Better::Lower,
        )
        .ours(report::value(&m, |m| m.front_waiting_mb.into())),
    );
}

async fn measure(ctx: &Ctx) -> anyhow::Result<Http> {
    let bus = fixture::started(&ctx.bins.busd).await?;
    let front = Front::start(ctx, &bus).await?;
    let front_idle_mb = procs::rss_bytes(front.pid).map(mb);
    let reader = front.session(&token(&bus, "reader").await?).await?;
    let writer = front.session(&token(&bus, "writer").await?).await?;
    let stdio_reader = Session::named(&ctx.ours, &bus, "stdio-reader").await?;
    let stdio_writer = Session::named(&ctx.ours, &bus, "stdio-writer").await?;

    let n = ctx.opts.pick(20, 300);
    let mut calls = Vec::new();
    for (what, tool, args) in [
        ("whoami", "whoami", json!({})),
        ("send", "send", json!({"to": "reader", "content": "x"})),
    ] {
        let (mut http, mut stdio) = (Samples::new(), Samples::new());
        let stdio_args = match what {
            "send" => json!({"to": "stdio-reader", "content": "x"}),
            _ => args.clone(),
        };
        for _ in 0..n {
            let t0 = Instant::now();
            call(&writer, tool, args.clone()).await?;
            http.push(t0.elapsed());
            let t0 = Instant::now();
            stdio_writer.call(tool, stdio_args.clone()).await?;
            stdio.push(t0.elapsed());
        }
        calls.push((what, http, stdio));
    }
    // Empty both inboxes before the wakes.
    call(&reader, "inbox", json!({"limit": 1000})).await?;
    stdio_reader.call("inbox", json!({"limit": 1000})).await?;

    let probe = bus.client();
    let wakes = ctx.opts.pick(5, 50);
    let (mut wake_http, mut wake_stdio) = (Samples::new(), Samples::new());
    for i in 0..wakes {
        let content = format!("wake {i}");
        let waiting = async {
            let page = call(&reader, "inbox", json!({"wait": 30})).await;
            (page, Instant::now())
        };
        let t0 = send_when_parked(&probe, &stdio_writer, "reader", &content);
        let ((page, t1), t0) = tokio::join!(waiting, t0);
        if inbox_contents(&page?).0 != [content.clone()] {
            bail!("the woken HTTP reader did not get {content:?}");
        }
        wake_http.push(t1 - t0?);

        let waiting = async {
            let page = stdio_reader.call("inbox", json!({"wait": 30})).await;
            (page, Instant::now())
        };
        let t0 = send_when_parked(&probe, &stdio_writer, "stdio-reader", &content);
        let ((page, t1), t0) = tokio::join!(waiting, t0);
        if inbox_contents(&page?).0 != [content.clone()] {
            bail!("the woken stdio reader did not get {content:?}");
        }
        wake_stdio.push(t1 - t0?);
    }

    // Many sessions waiting at once, one token each; one broadcast wakes them all.
    let k = ctx.opts.pick(20, 300);
    let mut many = Vec::with_capacity(k);
    for i in 0..k {
        many.push(front.session(&token(&bus, &format!("w{i}")).await?).await?);
    }
    let waits =
        futures::future::join_all(many.iter().map(|s| call(s, "inbox", json!({"wait": 60}))));
    let broadcast = async {
        wait_parked(&probe, k).await?;
        let rss = procs::rss_bytes(front.pid).map(mb);
        stdio_writer
            .call("send", json!({"to": "all", "content": "wake, all"}))
            .await?;
        anyhow::Ok(rss)
    };
    let (pages, rss) = tokio::join!(waits, broadcast);
    let front_waiting_mb = rss?;
    for page in pages {
        if inbox_contents(&page?).0 != ["wake, all"] {
            bail!("a waiting HTTP session missed the broadcast");
        }
    }
    for s in many {
        let _ = s.cancel().await;
    }
    Ok(Http {
        calls,
        wake_http,
        wake_stdio,
        waiting: k,
        front_idle_mb,
        front_waiting_mb,
    })
}

/// Send once busd counts one waiting reader (or after a bounded number of looks); returns
/// when the send began.
async fn send_when_parked(
    probe: &proto::client::Client,
    sender: &Session,
    to: &str,
    content: &str,
) -> anyhow::Result<Instant> {
    wait_parked(probe, 1).await?;
    let t0 = Instant::now();
    sender
        .call("send", json!({"to": to, "content": content}))
        .await?;
    Ok(t0)
}

/// Until busd counts `n` waiting calls, looking at its status every few milliseconds (busd has
/// no event for it), within a deadline.
async fn wait_parked(probe: &proto::client::Client, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while (fixture::status(probe).await?.waiting as usize) < n {
        if Instant::now() > deadline {
            bail!("{n} calls were not all waiting in busd within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A new token for `name`.
async fn token(bus: &TempBus, name: &str) -> anyhow::Result<String> {
    let create = call::token_create(name.to_owned(), None);
    Ok(bus.client().run(create).await?.token)
}

async fn call(
    session: &RunningService<RoleClient, ()>,
    tool: &str,
    args: Value,
) -> anyhow::Result<Value> {
    let Value::Object(args) = args else {
        bail!("arguments must be an object")
    };
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
    let result = tokio::time::timeout(Duration::from_secs(120), session.call_tool(params))
        .await
        .with_context(|| format!("{tool} over HTTP did not answer in time"))??;
    if result.is_error == Some(true) {
        bail!("{tool} over HTTP was refused: {:?}", result.content);
    }
    result
        .structured_content
        .with_context(|| format!("{tool} over HTTP answered no structured content"))
}

/// `bus-shim --http 127.0.0.1:0` on `bus`; killed on drop.
struct Front {
    url: String,
    pid: u32,
    http: reqwest::Client,
    _child: Child,
}

impl Front {
    async fn start(ctx: &Ctx, bus: &TempBus) -> anyhow::Result<Front> {
        let mut child = Command::new(&ctx.bins.shim)
            .args(["--http", "127.0.0.1:0", "--max-sessions", "400"])
            .env("BUS_DB", bus.db())
            .env("BUS_DAEMON", &ctx.bins.busd)
            .env("BUS_LOG", "info")
            .env_remove("BUS_NAME")
            .env_remove("BUS_SOCKET")
            .env_remove("BUS_HTTP")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting bus-shim --http")?;
        let pid = child.id().context("the front's pid")?;
        let mut lines = BufReader::new(child.stderr.take().context("its stderr")?).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.split("serving MCP at ").nth(1) {
                    return anyhow::Ok(url.trim().to_owned());
                }
            }
            bail!("bus-shim --http exited before serving")
        })
        .await
        .context("bus-shim --http did not serve within 30 s")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()?;
        Ok(Front {
            url,
            pid,
            http,
            _child: child,
        })
    }

    async fn session(&self, token: &str) -> anyhow::Result<RunningService<RoleClient, ()>> {
        let config =
            StreamableHttpClientTransportConfig::with_uri(self.url.as_str()).auth_header(token);
        let transport = StreamableHttpClientTransport::with_client(self.http.clone(), config);
        Ok(().serve(transport).await?)
    }
}
