//! Identity and presence: register, act_as, whoami, resolve, agents, status.

use proto::time::{now, rfc3339};
use proto::{
    Agent, AgentList, AgentStatus, ErrorKind, Identity, Registered, Response, Status, WireError,
    limits,
};

use super::{Handler, refusal};
use crate::identity::release_name;
use crate::presence::{Identity as Bound, Named, Session};
use crate::store::Register;

impl Handler<'_> {
    pub(super) async fn register(
        &self,
        name: String,
        role: Option<String>,
        owns: Option<Vec<String>>,
    ) -> Result<Response, WireError> {
        limits::name(&name)?;
        if let Some(role) = &role {
            limits::role(role)?;
        }
        if let Some(owns) = &owns {
            limits::owns(owns)?;
        }
        let conn = self.ctx.id;
        let session_id = self.ctx.hello.session_id.clone();
        // One change of this connection's identity at a time: another `register` sent at once
        // on the same connection sees the name this one binds, and frees it.
        let change = self.ctx.identity.change().await;
        let previous = change.current();
        let held_before = previous == Bound::Session(name.clone());
        let session = Session {
            conn,
            peer: self.ctx.peer(),
            role: role.clone().unwrap_or_default(),
            since: now(),
            session_id: session_id.clone(),
            host: None,
        };
        if let Err(held) = self.shared.presence.bind(&name, session) {
            let role = if held.role.is_empty() {
                String::new()
            } else {
                format!("role '{}', ", held.role)
            };
            return Err(WireError::new(
                ErrorKind::NameTaken,
                format!(
                    "name '{name}' is held by a connected session ({role}since {}): choose another name",
                    rfc3339(held.since)
                ),
            ));
        }
        // Sessions of other busd on a shared database hold names too.
        let held_elsewhere = match self.db().hold(&name, now()).await {
            Ok(true) => None,
            Ok(false) => Some(WireError::new(
                ErrorKind::NameTaken,
                format!(
                    "name '{name}' is held by a connected session on another machine: choose another name"
                ),
            )),
            Err(e) => Some(refusal(e)),
        };
        if let Some(refused) = held_elsewhere {
            if !held_before {
                self.shared.presence.unbind(&name, conn);
            }
            return Err(refused);
        }
        let write = Register {
            name: name.clone(),
            role,
            owns,
            session_id,
            now: now(),
        };
        let (agent, pending) = match self.db().register(write).await {
            Ok(registered) => registered,
            Err(e) => {
                if !held_before && self.shared.presence.unbind(&name, conn) {
                    let _ = self.db().let_go(&name).await;
                }
                return Err(refusal(e));
            }
        };
        self.shared.presence.set_role(&name, conn, &agent.role);
        change.set(Bound::Session(name.clone()));
        if let Bound::Session(old) = previous
            && old != name
        {
            release_name(self.shared, conn, old).await;
        }
        let peers = self
            .shared
            .presence
            .online()
            .into_iter()
            .filter(|n| *n != name)
            .collect();
        Ok(Response::Registered(Registered {
            name: agent.name,
            role: agent.role,
            owns: agent.owns,
            peers,
            pending_count: pending,
        }))
    }

    pub(super) async fn act_as(&self, name: String) -> Result<Response, WireError> {
        limits::name(&name)?;
        let change = self.ctx.identity.change().await;
        let previous = change.set(Bound::Acting(name.clone()));
        if let Bound::Session(old) = previous {
            release_name(self.shared, self.ctx.id, old).await;
        }
        Ok(Response::Identity(Identity { name: Some(name) }))
    }

    pub(super) fn whoami(&self) -> Response {
        Response::Identity(Identity {
            name: self.ctx.name(),
        })
    }

    /// The name of a Claude Code session (see `Request::Resolve`): waits, up to `wait`
    /// seconds, on presence's changes (a name bound, a shim attached), never on a timer.
    pub(super) async fn resolve(
        &self,
        session_ids: Vec<String>,
        host: Option<proto::Host>,
        wait: f64,
    ) -> Result<Response, WireError> {
        limits::seconds("wait", wait, Some(limits::RESOLVE_WAIT_MAX_SECONDS))?;
        let presence = &self.shared.presence;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs_f64(wait);
        let mut changes = presence.watch_changes();
        let known = loop {
            changes.borrow_and_update();
            match presence.named(&session_ids, host.as_ref()) {
                Named::Name(name) => return Ok(Response::Identity(Identity { name: Some(name) })),
                Named::None => break None,
                Named::Unknown => {}
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break None },
                () = tokio::time::sleep_until(deadline) => break None,
                () = self.shared.stopping.cancelled() => break None,
            }
        };
        let mut name = known;
        for session_id in session_ids {
            if name.is_some() {
                break;
            }
            name = self.db().resolve(&session_id).await.map_err(refusal)?;
        }
        Ok(Response::Identity(Identity { name }))
    }

    /// `Request::Attach`: the connection serves this Claude Code process.
    pub(super) fn attach(&self, host: proto::Host, naming: bool) -> Response {
        self.shared.presence.attach(self.ctx.id, host, naming);
        Response::Identity(Identity {
            name: self.ctx.name(),
        })
    }

    pub(super) async fn agents(
        &self,
        active_within: f64,
        all: bool,
    ) -> Result<Response, WireError> {
        limits::seconds("active_within", active_within, None)?;
        let now = now();
        let rows = self.db().agents().await.map_err(refusal)?;
        let claims = self.db().claims(now).await.map_err(refusal)?;
        // The names sessions of other busd hold, with the machine each is on.
        let elsewhere: std::collections::HashMap<String, String> = self
            .db()
            .held_elsewhere()
            .await
            .map_err(refusal)?
            .into_iter()
            .collect();
        let here = &self.shared.config.host;
        let presence = &self.shared.presence;
        let mut agents: Vec<Agent> = rows
            .into_iter()
            .filter_map(|row| {
                let host = if presence.holder(&row.name).is_some() {
                    Some(here.clone())
                } else {
                    elsewhere.get(&row.name).cloned()
                };
                let connected = host.is_some();
                let last_seen = if connected { now } else { row.last_seen };
                let seconds_ago = (now - last_seen).max(0.0);
                let recent = seconds_ago <= active_within;
                if !(connected || recent || all) {
                    return None;
                }
                let status = match (connected, recent) {
                    (true, _) => AgentStatus::Online,
                    (false, true) => AgentStatus::Away,
                    (false, false) => AgentStatus::Offline,
                };
                Some(Agent {
                    waiting: presence.is_waiting(&row.name),
                    name: row.name,
                    role: row.role,
                    owns: row.owns,
                    status,
                    connected,
                    last_seen: rfc3339(last_seen),
                    seconds_ago: (seconds_ago * 10.0).round() / 10.0,
                    overlaps: Vec::new(),
                    host,
                })
            })
            .collect();
        agents.sort_by(|a, b| {
            b.connected
                .cmp(&a.connected)
                .then(a.seconds_ago.total_cmp(&b.seconds_ago))
                .then(a.name.cmp(&b.name))
        });
        let footprints: Vec<Vec<String>> = agents
            .iter()
            .map(|a| {
                let claimed = claims
                    .iter()
                    .filter(|c| c.owner == a.name)
                    .map(|c| c.path.clone());
                a.owns.iter().cloned().chain(claimed).collect()
            })
            .collect();
        // Comparing globs is CPU work bounded by a time budget: keep it off the async workers,
        // which serve every other connection meanwhile.
        let overlaps = tokio::task::spawn_blocking(move || proto::overlap::overlaps(&footprints))
            .await
            .map_err(|e| {
                WireError::new(
                    ErrorKind::Internal,
                    format!("internal error: overlaps: {e}"),
                )
            })?;
        for (i, others) in overlaps.into_iter().enumerate() {
            let mut names: Vec<String> =
                others.into_iter().map(|j| agents[j].name.clone()).collect();
            names.sort();
            agents[i].overlaps = names;
        }
        Ok(Response::Agents(AgentList { agents }))
    }

    pub(super) async fn status(&self) -> Result<Response, WireError> {
        let now = now();
        let counts = self.db().counts(now).await.map_err(refusal)?;
        let (connections, sessions, waiting) = self.shared.presence.counts();
        let config = &self.shared.config;
        Ok(Response::Status(Status {
            pid: std::process::id(),
            version: proto::VERSION.to_owned(),
            protocol: config.protocol,
            started_at: rfc3339(self.shared.started_at),
            uptime_seconds: ((now - self.shared.started_at) * 10.0).round() / 10.0,
            db_path: config.paths.db_shown(),
            socket_path: config.paths.socket.display().to_string(),
            log_path: config.log_path.as_ref().map(|p| p.display().to_string()),
            connections,
            sessions,
            waiting,
            agents: counts.agents,
            messages: counts.messages,
            state_keys: counts.state_keys,
            live_claims: counts.live_claims,
        }))
    }
}
