//! A scripted fake of the Anthropic Messages API on loopback: what the pinned Claude Code CLI
//! sends (`POST /v1/messages?beta=true`, `"stream": true`) and expects back (server-sent
//! events: `message_start`, content blocks, `message_delta`, `message_stop`).
//!
//! A small hand-written HTTP/1.1 responder on tokio: the CLI sends one JSON body with a
//! `Content-Length` per request on keep-alive connections, so no HTTP library is needed. Every
//! request is recorded (time, session header, body); a test waits for the next one on a
//! `watch` channel bumped by each arrival, never by polling.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::common::PATIENCE;

/// One content block of a scripted answer.
#[derive(Debug, Clone)]
pub enum Block {
    Text(String),
    /// A tool call: the tool's name as Claude Code lists it, and its input.
    Tool(String, Value),
}

/// What the model answers to a request: a function of every request so far (the last is the
/// one to answer). `None` answers with a short text.
pub type Script = Box<dyn Fn(&[Request]) -> Option<Vec<Block>> + Send + Sync>;

/// A request the CLI sent.
#[derive(Debug, Clone)]
pub struct Request {
    pub at: Instant,
    pub body: Value,
}

impl Request {
    /// Every text the request carries (system prompt, messages, tool results), one string:
    /// what the model reads.
    pub fn text(&self) -> String {
        let mut out = String::new();
        collect_text(&self.body["system"], &mut out);
        collect_text(&self.body["messages"], &mut out);
        out
    }

    /// The text of the messages after the model's last answer: what is new to it in this
    /// request (a prompt, tool results, a wake-up, hook context).
    pub fn last_text(&self) -> String {
        let mut out = String::new();
        let messages = self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let from = messages
            .iter()
            .rposition(|m| m["role"] == "assistant")
            .map_or(0, |i| i + 1);
        for m in &messages[from..] {
            collect_text(m, &mut out);
        }
        out
    }
}

fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        Value::Object(map) => {
            for key in ["text", "content"] {
                if let Some(inner) = map.get(key) {
                    collect_text(inner, out);
                }
            }
        }
        _ => {}
    }
}

struct Shared {
    requests: Mutex<Vec<Request>>,
    arrived: tokio::sync::watch::Sender<usize>,
    script: Script,
}

/// The fake API: serving until dropped.
pub struct FakeApi {
    pub port: u16,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeApi {
    pub async fn start(script: Script) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            arrived: tokio::sync::watch::channel(0).0,
            script,
        });
        let s = shared.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, s.clone()));
            }
        });
        FakeApi {
            port,
            shared,
            server,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The first request, among those after the first `after`, that `matches`; waits for it
    /// (event-driven) within `within`, and panics naming `what` when it does not come.
    pub async fn wait_for(
        &self,
        after: usize,
        within: Duration,
        what: &str,
        matches: impl Fn(&Request) -> bool,
    ) -> (usize, Request) {
        let mut arrived = self.shared.arrived.subscribe();
        let found = tokio::time::timeout(within, async {
            loop {
                let hit = {
                    let requests = self.shared.requests.lock().unwrap();
                    requests
                        .iter()
                        .enumerate()
                        .skip(after)
                        .find(|(_, r)| matches(r))
                        .map(|(i, r)| (i, r.clone()))
                };
                if let Some(hit) = hit {
                    return hit;
                }
                arrived.changed().await.expect("the fake API is running");
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "no request {what} within {within:?}; what is new in each request: {:#?}",
                self.summary()
            )
        })
    }

    /// What is new in each request so far, cut short: for failure messages.
    pub fn summary(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.last_text().chars().take(400).collect())
            .collect()
    }

    /// Wait for a `claude -p` run to exit; on timeout the panic shows the requests.
    pub async fn finish(&self, child: tokio::process::Child) -> std::process::Output {
        match tokio::time::timeout(PATIENCE, child.wait_with_output()).await {
            Ok(out) => out.expect("wait for claude"),
            Err(_) => panic!(
                "claude did not exit within {PATIENCE:?}; what is new in each request: {:#?}",
                self.summary()
            ),
        }
    }

    /// The next request after the first `after`, whatever it is.
    pub async fn next(&self, after: usize, what: &str) -> (usize, Request) {
        self.wait_for(after, PATIENCE, what, |_| true).await
    }
}

/// One keep-alive connection: requests in, answers out, until the CLI closes it.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let Some((method, path, headers)) = read_head(&mut read).await else {
            return;
        };
        let length = header(&headers, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if read.read_exact(&mut body).await.is_err() {
            return;
        }
        if method != "POST" || !path.starts_with("/v1/messages") {
            let _ = write
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await;
            continue;
        }
        let request = Request {
            at: Instant::now(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        let stream_it = request.body["stream"].as_bool().unwrap_or(false);
        let model = request.body["model"].as_str().unwrap_or("fake").to_owned();
        let blocks = {
            let mut requests = shared.requests.lock().unwrap();
            requests.push(request);
            (shared.script)(&requests)
        }
        .unwrap_or_else(|| vec![Block::Text("Done.".into())]);
        shared.arrived.send_modify(|n| *n += 1);
        let answer = if path.contains("count_tokens") {
            http("application/json", json!({"input_tokens": 10}).to_string())
        } else if stream_it {
            http("text/event-stream", sse(&model, &blocks))
        } else {
            http("application/json", message(&model, &blocks).to_string())
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn read_head(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> Option<(String, String, Vec<(String, String)>)> {
    let mut line = String::new();
    if read.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if read.read_line(&mut h).await.ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            return Some((method, path, headers));
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn http(content_type: &str, body: String) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: keep-alive\r\n\r\n{body}",
        body.len()
    )
}

fn stop_reason(blocks: &[Block]) -> &'static str {
    if blocks.iter().any(|b| matches!(b, Block::Tool(..))) {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn usage() -> Value {
    json!({"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
           "cache_read_input_tokens": 0})
}

/// A non-streamed answer.
fn message(model: &str, blocks: &[Block]) -> Value {
    let content: Vec<Value> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| match b {
            Block::Text(t) => json!({"type": "text", "text": t}),
            Block::Tool(name, input) => {
                json!({"type": "tool_use", "id": tool_id(i), "name": name, "input": input})
            }
        })
        .collect();
    json!({"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
           "content": content, "stop_reason": stop_reason(blocks), "stop_sequence": null,
           "usage": usage()})
}

/// A streamed answer, as server-sent events.
fn sse(model: &str, blocks: &[Block]) -> String {
    let mut events = vec![(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message",
               "role": "assistant", "model": model, "content": [], "stop_reason": null,
               "stop_sequence": null, "usage": usage()}}),
    )];
    for (i, b) in blocks.iter().enumerate() {
        let (start, delta) = match b {
            Block::Text(t) => (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": t}),
            ),
            Block::Tool(name, input) => (
                json!({"type": "tool_use", "id": tool_id(i), "name": name, "input": {}}),
                json!({"type": "input_json_delta", "partial_json": input.to_string()}),
            ),
        };
        events.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": i, "content_block": start}),
        ));
        events.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": i, "delta": delta}),
        ));
        events.push((
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        ));
    }
    events.push((
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(blocks),
               "stop_sequence": null}, "usage": {"output_tokens": 5}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

fn tool_id(i: usize) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("toolu_fake{n:06}_{i}")
}
