//! The twelve MCP tools, each forwarded to busd over the session's connection.
//!
//! The shim holds no bus state of its own but two things: the connection (with its bound
//! identity, which busd keeps), and messages a consuming `inbox` took while its call was being
//! cancelled — those are handed out by the next `inbox` call instead of being lost.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::client::{Call, Client, ClientError, call};
use proto::{
    AgentList, ClaimList, Claimed, ErrorKind, Identity, InboxPage, MessageStatus, Registered,
    Released, SendResult, StateKeyList, StateList, StateWritten,
};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::RequestMetaObject;
use rmcp::{Peer, RoleServer, tool, tool_router};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::held::Held;
use crate::params::*;
use crate::schema;

mod coord;

/// How often a waiting `inbox` reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The MCP server of one session.
#[derive(Clone)]
pub struct Bus {
    pub(crate) client: Client,
    /// Messages consumed by a cancelled `inbox` call, for the next one.
    held: Arc<Held>,
    /// Why the `BUS_NAME` registration at start failed, for the first identity-bound call.
    startup_note: Arc<Mutex<Option<String>>>,
    /// Becomes true once the start-up registration (if any) has finished.
    started: watch::Receiver<bool>,
    /// The name this session registered, for the channel's pushes.
    pub(crate) named: Arc<watch::Sender<Option<String>>>,
    /// The name an HTTP session's token binds: `register` may not take another.
    bound: Option<Arc<str>>,
    /// The longest wait with no traffic (an HTTP session is closed after that long without
    /// any): a longer one without progress notifications (or with them further apart) ends
    /// then with what it has.
    quiet_wait_max: Option<f64>,
    pub(crate) tool_router: ToolRouter<Bus>,
}

impl Bus {
    /// A server over `client`; when `name` is given it is registered in the background and
    /// tool calls wait for that to finish. Under Claude Code the shim first tells busd which
    /// Claude Code process it serves (`Attach`), so the session's hooks find its name by that
    /// process, which `/clear` and `/resume` do not change.
    pub fn new(client: Client, name: Option<String>) -> Bus {
        let host = proto::Host::of_server();
        Bus::start(
            client,
            name.map(|n| (n, None)),
            "BUS_NAME",
            None,
            host,
            false,
        )
    }

    /// The server of an HTTP session whose token binds `name` (and `role`): registered at
    /// once, as with `BUS_NAME`, and `register` refuses any other name.
    pub fn bound(client: Client, name: String, role: Option<String>, quiet_wait_max: f64) -> Bus {
        let bound = Some(Arc::from(name.as_str()));
        let mut bus = Bus::start(
            client,
            Some((name, role)),
            "the token's name",
            bound,
            None,
            false,
        );
        bus.quiet_wait_max = Some(quiet_wait_max);
        bus
    }

    /// The server of an HTTP session that acts as its token's `name` without holding it (the
    /// `bus` command and hooks over `BUS_URL`, as `ActAs` on the socket): it works beside the
    /// session holding the name, and `register` refuses any other name.
    pub fn acting(client: Client, name: String, quiet_wait_max: f64) -> Bus {
        let bound = Some(Arc::from(name.as_str()));
        let mut bus = Bus::start(
            client,
            Some((name, None)),
            "the token's name",
            bound,
            None,
            true,
        );
        bus.quiet_wait_max = Some(quiet_wait_max);
        bus
    }

    fn start(
        client: Client,
        name: Option<(String, Option<String>)>,
        source: &'static str,
        bound: Option<Arc<str>>,
        host: Option<proto::Host>,
        acting: bool,
    ) -> Bus {
        let (done, started) = watch::channel(name.is_none() && host.is_none());
        let bus = Bus {
            client,
            held: Arc::default(),
            startup_note: Arc::default(),
            started,
            named: Arc::new(watch::Sender::new(None)),
            bound,
            quiet_wait_max: None,
            tool_router: compact(Self::tool_router()),
        };
        if name.is_none() && host.is_none() {
            return bus;
        }
        let (client, note, named) = (
            bus.client.clone(),
            bus.startup_note.clone(),
            bus.named.clone(),
        );
        tokio::spawn(async move {
            if let Some(host) = host.clone() {
                let naming = name.is_some();
                if let Err(e) = client.run(call::attach(host, naming)).await {
                    tracing::warn!("could not tell busd which Claude Code this serves: {e}");
                }
            }
            if let Some((name, role)) = name {
                let bound = match acting {
                    true => client.run(call::act_as(name.clone())).await.map(drop),
                    false => client
                        .run(call::register(name.clone(), role, None))
                        .await
                        .map(drop),
                };
                match bound {
                    Ok(_) => {
                        tracing::info!(name, "registered {source}");
                        named.send_replace(Some(name));
                    }
                    Err(e) => {
                        tracing::warn!(
                            name,
                            "could not register {source}: {e}; starting unregistered"
                        );
                        *note.lock().unwrap() =
                            Some(format!("{source} '{name}' could not be registered ({e})"));
                        // No name follows: hooks waiting for one stop waiting.
                        if let Some(host) = host {
                            let _ = client.run(call::attach(host, false)).await;
                        }
                    }
                }
            }
            let _ = done.send(true);
        });
        bus
    }

    /// The wait a call may ask busd for: on an HTTP session without progress notifications
    /// (or with them further apart than its idle limit) at most that limit, so the session is
    /// not closed under a waiting call; otherwise the wait asked for.
    fn wait_within(&self, wait: f64, meta: &RequestMetaObject) -> f64 {
        match self.quiet_wait_max {
            // Progress notifications keep a session busy only if they come often enough.
            Some(max)
                if meta.get_progress_token().is_none() || max <= PROGRESS_EVERY.as_secs_f64() =>
            {
                wait.min(max)
            }
            _ => wait,
        }
    }

    /// Run a call once the start-up registration has finished; a refusal as its tool error.
    async fn run<T>(&self, call: Call<T>) -> Result<T, String> {
        self.run_until(call, None).await
    }

    /// Like [`Bus::run`], asking busd to stop the call when `cancel` fires.
    async fn run_until<T>(
        &self,
        call: Call<T>,
        cancel: Option<&CancellationToken>,
    ) -> Result<T, String> {
        let _ = self.started.clone().wait_for(|done| *done).await;
        let answer = match cancel {
            Some(ct) => self.client.run_cancellable(call, ct).await,
            None => self.client.run(call).await,
        };
        answer.map_err(|e| self.explain(e))
    }

    /// The one-line text of a refused call.
    fn explain(&self, error: ClientError) -> String {
        match error {
            ClientError::Refused(e) if e.kind == ErrorKind::NotRegistered => {
                let note = self.startup_note.lock().unwrap().clone();
                let lost = self
                    .client
                    .lost_identity()
                    .map(|e| format!("this session's name was lost when busd restarted ({e})"));
                match note.or(lost) {
                    Some(why) => format!("{why}; {}", e.message),
                    None => e.message,
                }
            }
            ClientError::Refused(e) => e.message,
            ClientError::Unavailable(why) => format!("the bus is unavailable: {why}"),
            ClientError::NoAnswer(why) | ClientError::Unexpected(why) => why,
        }
    }
}

// Results are spelled `Result<Json<T>, String>`, not through an alias: `#[tool]` reads the
// return type syntactically to declare each tool's output schema.
#[tool_router(vis = "pub(crate)")]
impl Bus {
    #[tool(
        description = "Bind this session's name on the bus; returns the online peers and unread count. Call first."
    )]
    async fn register(
        &self,
        Parameters(a): Parameters<RegisterArgs>,
    ) -> Result<Json<Registered>, String> {
        if let Some(bound) = self.bound.as_deref().filter(|b| *b != a.name) {
            return Err(format!(
                "this session's token binds the name '{bound}': register may set its role and owns, not take the name '{}' (use that name's own token)",
                a.name
            ));
        }
        *self.startup_note.lock().unwrap() = None;
        let registered = self.run(call::register(a.name, a.role, a.owns)).await?;
        self.named.send_replace(Some(registered.name.clone()));
        Ok(Json(registered))
    }

    #[tool(description = "This session's bound name, or null before register.")]
    async fn whoami(&self) -> Result<Json<Identity>, String> {
        self.run(call::whoami()).await.map(Json)
    }

    #[tool(
        description = "Sessions on the bus: online now or seen recently, their roles, owned globs, and overlapping footprints."
    )]
    async fn agents(
        &self,
        Parameters(a): Parameters<AgentsArgs>,
    ) -> Result<Json<AgentList>, String> {
        self.run(call::agents(a.active_within, a.all))
            .await
            .map(Json)
    }

    #[tool(
        description = "Send a message to a session by name, or to \"all\"; durable once it returns. wait_reply > 0 also waits for the first reply and returns it (null if none came in time)."
    )]
    async fn send(
        &self,
        Parameters(a): Parameters<SendArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<Json<SendResult>, String> {
        if a.wait_reply != 0.0 {
            let w = coord::Waiting {
                meta: &meta,
                peer: &peer,
                ct: &ct,
                seconds: self.wait_within(a.wait_reply, &meta),
                what: "waiting for a reply",
            };
            return self.ask(a.to, a.content, a.reply_to, w).await.map(Json);
        }
        let sent = self.run(call::send(a.to, a.content, a.reply_to)).await?;
        Ok(Json(sent.into()))
    }

    #[tool(
        description = "Read unread messages, oldest first; with wait > 0, blocks until mail arrives or the time is up. thread=ID instead returns that message's whole reply chain, consuming nothing."
    )]
    async fn inbox(
        &self,
        Parameters(a): Parameters<InboxArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<Json<InboxPage>, String> {
        if let Some(id) = a.thread {
            return self.thread(id).await.map(Json);
        }
        let consume = a.consume && !a.peek;
        // Messages held from a cancelled call are this call's to hand over: with some held
        // already it does not wait, and when some get held while it waits it stops waiting.
        let mut held_signal = self.held.subscribe();
        let wait = match consume && !self.held.is_empty() {
            true => 0.0,
            false => self.wait_within(a.wait, &meta),
        };
        let stop = ct.child_token();
        let stop_when_held = consume.then(|| {
            let stop = stop.clone();
            tokio::spawn(async move {
                if held_signal.changed().await.is_ok() {
                    stop.cancel();
                }
            })
        });
        let progress = coord::Waiting {
            meta: &meta,
            peer: &peer,
            ct: &ct,
            seconds: a.wait,
            what: "waiting for mail",
        }
        .progress();
        let answer = self
            .run_until(call::inbox(consume, a.limit, wait, None), Some(&stop))
            .await;
        for task in [progress, stop_when_held].into_iter().flatten() {
            task.abort();
        }
        let page = match answer {
            Ok(page) => page,
            // Stopped because messages were held meanwhile: they are the answer.
            Err(_) if stop.is_cancelled() && !ct.is_cancelled() => InboxPage {
                messages: Vec::new(),
                pending_count: 0,
            },
            Err(e) => return Err(e),
        };
        Ok(Json(self.held.merge(page, consume, ct.is_cancelled())))
    }

    #[tool(description = "Who has read a message sent earlier, and who has not yet.")]
    async fn message_status(
        &self,
        Parameters(a): Parameters<MessageStatusArgs>,
    ) -> Result<Json<MessageStatus>, String> {
        self.run(call::message_status(a.message_id)).await.map(Json)
    }

    #[tool(
        description = "Write a shared key; new keys start at version 1. Pass expected_version for compare-and-set."
    )]
    async fn set_state(
        &self,
        Parameters(a): Parameters<SetStateArgs>,
    ) -> Result<Json<StateWritten>, String> {
        let write = call::set_state(a.key, a.value, a.expected_version, a.mode);
        self.run(write).await.map(Json)
    }

    #[tool(
        description = "Read one shared key with its value, author and version, or every key. With after_version/wait: the key once its version exceeds after_version, or [] when wait runs out."
    )]
    async fn get_state(
        &self,
        Parameters(a): Parameters<GetStateArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<Json<StateList>, String> {
        if a.after_version.is_some() || a.wait != 0.0 {
            let w = coord::Waiting {
                meta: &meta,
                peer: &peer,
                ct: &ct,
                seconds: self.wait_within(a.wait, &meta),
                what: "waiting for a change of state",
            };
            let after = a.after_version.unwrap_or(0);
            return self.wait_state(a.key, after, w).await.map(Json);
        }
        let key = Some(a.key).filter(|k| !k.is_empty());
        self.run(call::get_state(key)).await.map(Json)
    }

    #[tool(description = "List shared keys with author and version, without values.")]
    async fn list_state(&self) -> Result<Json<StateKeyList>, String> {
        self.run(call::list_state()).await.map(Json)
    }

    #[tool(
        description = "Announce that this session is editing a path (advisory, never locks). Refused while another session's claim is live."
    )]
    async fn claim(&self, Parameters(a): Parameters<ClaimArgs>) -> Result<Json<Claimed>, String> {
        self.run(call::claim(a.path, a.ttl)).await.map(Json)
    }

    #[tool(description = "Release this session's claim on a path.")]
    async fn release(
        &self,
        Parameters(a): Parameters<ReleaseArgs>,
    ) -> Result<Json<Released>, String> {
        self.run(call::release(a.path)).await.map(Json)
    }

    #[tool(description = "Live claims: path, owner, expiry.")]
    async fn list_claims(&self) -> Result<Json<ClaimList>, String> {
        self.run(call::list_claims()).await.map(Json)
    }
}

/// The router with its schemas as common clients read them (see [`schema`]): also no
/// `$schema` line, since JSON Schema 2020-12 is MCP's default dialect and that line, repeated
/// in 24 schemas, would push the `tools/list` reply past its budget of 10,000 characters.
fn compact(mut router: ToolRouter<Bus>) -> ToolRouter<Bus> {
    for route in router.map.values_mut() {
        schema::input(Arc::make_mut(&mut route.attr.input_schema));
        if let Some(output) = &mut route.attr.output_schema {
            schema::output(Arc::make_mut(output));
        }
    }
    router
}
