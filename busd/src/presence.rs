//! Who is connected right now: which connection holds which name, and who is waiting.
//!
//! This is a fact busd knows, not a guess from timestamps: a name is held exactly while the
//! connection that registered it is open. A connection whose peer has hung up no longer holds
//! its name, even before its own task has noticed (see [`Peer`]). Each connection's own view,
//! the name it acts as, is its [`Binding`] (`identity.rs`).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A connection's number, unique for the daemon's life.
pub type ConnId = u64;

pub use crate::identity::{Binding, Change, Identity};

#[derive(Debug, Clone)]
pub struct Session {
    pub conn: ConnId,
    /// The connection's socket, to tell whether its peer is still there.
    pub peer: Peer,
    pub role: String,
    /// Unix seconds when the name was bound.
    pub since: f64,
    pub session_id: Option<String>,
    /// The Claude Code process the connection serves (`Request::Attach`), if it said.
    pub host: Option<proto::Host>,
}

/// What presence knows of a Claude Code session's name right now.
#[derive(Debug, Clone, PartialEq)]
pub enum Named {
    /// A connected session holds this name.
    Name(String),
    /// The process's shim is connected and has no name to register: nothing to wait for.
    None,
    /// Not known yet: the shim has not connected, or is about to register.
    Unknown,
}

/// A connection that said which Claude Code process it serves.
#[derive(Debug, Clone)]
struct Attached {
    host: proto::Host,
    /// A `Register` follows at once.
    naming: bool,
}

/// A duplicate of a connection's socket, asked whether the peer closed its end. A client that
/// exits closes its socket before anyone can observe its exit, so a name whose session is gone
/// is free at once, not only once the connection's task has seen the end of the stream.
#[derive(Debug, Clone, Default)]
pub struct Peer(Option<Arc<OwnedFd>>);

impl Peer {
    /// Watch the socket `fd` (through a duplicate of it).
    pub fn watch(fd: BorrowedFd<'_>) -> Peer {
        Peer(fd.try_clone_to_owned().ok().map(Arc::new))
    }

    /// Whether the peer closed its end: the stream is at its end (or was reset). A peer whose
    /// data busd has not read yet still counts as there.
    pub fn is_gone(&self) -> bool {
        let Some(fd) = &self.0 else { return false };
        let mut byte = 0u8;
        // SAFETY: a non-blocking peek of at most one byte into a local buffer, on a descriptor
        // we own.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => true,
            n if n > 0 => false,
            _ => !matches!(
                io::Error::last_os_error().kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        }
    }
}

#[derive(Default)]
pub struct Presence {
    inner: Mutex<Inner>,
    /// Bumped by every change a waiting `Resolve` may be waiting for (a name bound, a
    /// connection attached to or gone from a Claude Code process) and by those a viewer shows
    /// (`Request::Watch`: a name freed, a call starting or ending a wait for mail).
    changed: watch::Sender<u64>,
    /// Bumped each time a reader parks in a wait for mail (`Request::AwaitParked` watches it).
    parked: watch::Sender<u64>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    /// Calls waiting for mail, per name.
    waiting: HashMap<String, usize>,
    /// Waiter slots (`Inbox::waiter`): the token of the current holder of each slot.
    slots: HashMap<String, (u64, CancellationToken)>,
    next_slot: u64,
    connections: u64,
    attached: HashMap<ConnId, Attached>,
}

/// Marks a name as waiting for as long as it lives.
pub struct Waiting<'a> {
    presence: &'a Presence,
    name: String,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut inner = self.presence.inner.lock().unwrap();
        if let Some(n) = inner.waiting.get_mut(&self.name) {
            *n -= 1;
            if *n == 0 {
                inner.waiting.remove(&self.name);
                drop(inner);
                self.presence.changed.send_modify(|n| *n += 1);
            }
        }
    }
}

/// Holds a waiter slot; cancelled when a newer waiter takes the slot.
pub struct Slot<'a> {
    presence: &'a Presence,
    key: String,
    serial: u64,
    pub replaced: CancellationToken,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut inner = self.presence.inner.lock().unwrap();
        if inner
            .slots
            .get(&self.key)
            .is_some_and(|(s, _)| *s == self.serial)
        {
            inner.slots.remove(&self.key);
        }
    }
}

impl Presence {
    pub fn new() -> Presence {
        Presence::default()
    }

    /// Bind `name` to `conn`, unless another connection whose peer is still there holds it:
    /// then its session is returned.
    pub fn bind(&self, name: &str, session: Session) -> Result<(), Session> {
        let mut inner = self.inner.lock().unwrap();
        match inner.sessions.get(name) {
            Some(held) if held.conn != session.conn && !held.peer.is_gone() => Err(held.clone()),
            _ => {
                let mut session = session;
                if let Some(a) = inner.attached.get_mut(&session.conn) {
                    a.naming = false;
                    session.host = Some(a.host.clone());
                }
                inner.sessions.insert(name.to_owned(), session);
                drop(inner);
                self.changed.send_modify(|n| *n += 1);
                Ok(())
            }
        }
    }

    /// `conn` serves the Claude Code process `host`; `naming`: it registers a name next.
    pub fn attach(&self, conn: ConnId, host: proto::Host, naming: bool) {
        let mut inner = self.inner.lock().unwrap();
        for s in inner.sessions.values_mut().filter(|s| s.conn == conn) {
            s.host = Some(host.clone());
        }
        inner.attached.insert(conn, Attached { host, naming });
        drop(inner);
        self.changed.send_modify(|n| *n += 1);
    }

    /// `conn` closed.
    pub fn detach(&self, conn: ConnId) {
        if self.inner.lock().unwrap().attached.remove(&conn).is_some() {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// A receiver bumped by each change [`Presence::named`] may answer differently after.
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The name of the Claude Code session of `host` or of one of `session_ids`: held by a
    /// session with one of those ids, else by a shim of that process (the newest); or that
    /// the process's shim has none to give.
    pub fn named(&self, session_ids: &[String], host: Option<&proto::Host>) -> Named {
        let inner = self.inner.lock().unwrap();
        let newest = |f: &dyn Fn(&Session) -> bool| {
            inner
                .sessions
                .iter()
                .filter(|(_, s)| f(s) && !s.peer.is_gone())
                .max_by(|a, b| a.1.since.total_cmp(&b.1.since))
                .map(|(name, _)| name.clone())
        };
        let by_id = newest(&|s| {
            s.session_id
                .as_ref()
                .is_some_and(|id| session_ids.contains(id))
        });
        if let Some(name) = by_id {
            return Named::Name(name);
        }
        let Some(host) = host else {
            return Named::Unknown;
        };
        if let Some(name) = newest(&|s| s.host.as_ref() == Some(host)) {
            return Named::Name(name);
        }
        let mut shims = inner.attached.values().filter(|a| &a.host == host);
        match shims.next() {
            Some(first) if !first.naming && shims.all(|a| !a.naming) => Named::None,
            _ => Named::Unknown,
        }
    }

    /// Update the role shown for a bound name.
    pub fn set_role(&self, name: &str, conn: ConnId, role: &str) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(s) = inner.sessions.get_mut(name).filter(|s| s.conn == conn) {
            s.role = role.to_owned();
        }
    }

    /// Free `name` if `conn` holds it; returns whether it did.
    pub fn unbind(&self, name: &str, conn: ConnId) -> bool {
        let mut inner = self.inner.lock().unwrap();
        if inner.sessions.get(name).is_some_and(|s| s.conn == conn) {
            inner.sessions.remove(name);
            drop(inner);
            self.changed.send_modify(|n| *n += 1);
            true
        } else {
            false
        }
    }

    /// The session holding `name`, unless its peer is gone.
    pub fn holder(&self, name: &str) -> Option<Session> {
        let inner = self.inner.lock().unwrap();
        inner
            .sessions
            .get(name)
            .filter(|s| !s.peer.is_gone())
            .cloned()
    }

    /// Names held right now by sessions whose peer is there.
    pub fn online(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .lock()
            .unwrap()
            .sessions
            .iter()
            .filter(|(_, s)| !s.peer.is_gone())
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// A receiver that sees every reader parking from now on: then ask [`Presence::is_waiting`].
    pub fn watch_parked(&self) -> watch::Receiver<u64> {
        self.parked.subscribe()
    }

    pub fn is_waiting(&self, name: &str) -> bool {
        self.inner.lock().unwrap().waiting.contains_key(name)
    }

    /// Count `name` as waiting until the guard drops.
    pub fn waiting(&self, name: &str) -> Waiting<'_> {
        let first = {
            let mut inner = self.inner.lock().unwrap();
            let n = inner.waiting.entry(name.to_owned()).or_default();
            *n += 1;
            *n == 1
        };
        self.parked.send_modify(|n| *n += 1);
        if first {
            self.changed.send_modify(|n| *n += 1);
        }
        Waiting {
            presence: self,
            name: name.to_owned(),
        }
    }

    /// Take the waiter slot `key`, ending the previous holder's wait.
    pub fn take_slot(&self, key: &str) -> Slot<'_> {
        let mut inner = self.inner.lock().unwrap();
        inner.next_slot += 1;
        let serial = inner.next_slot;
        let token = CancellationToken::new();
        if let Some((_, previous)) = inner.slots.insert(key.to_owned(), (serial, token.clone())) {
            previous.cancel();
        }
        Slot {
            presence: self,
            key: key.to_owned(),
            serial,
            replaced: token,
        }
    }

    pub fn connection_opened(&self) {
        self.inner.lock().unwrap().connections += 1;
    }

    pub fn connection_closed(&self) {
        self.inner.lock().unwrap().connections -= 1;
    }

    /// (connections, sessions, calls waiting)
    pub fn counts(&self) -> (u64, u64, u64) {
        let inner = self.inner.lock().unwrap();
        (
            inner.connections,
            inner.sessions.len() as u64,
            inner.waiting.values().sum::<usize>() as u64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(conn: ConnId) -> Session {
        Session {
            conn,
            peer: Peer::default(),
            role: "r".into(),
            since: 1.0,
            session_id: Some(format!("s{conn}")),
            host: None,
        }
    }

    fn host(pid: u32) -> proto::Host {
        proto::Host {
            pid,
            started: "100".into(),
        }
    }

    #[test]
    fn a_session_is_named_through_its_claude_code_process() {
        let p = Presence::new();
        let ids = |id: &str| vec![id.to_owned()];
        // The shim of process 7 attaches, about to register.
        p.attach(1, host(7), true);
        assert_eq!(p.named(&ids("new"), Some(&host(7))), Named::Unknown);
        p.bind("api", session(1)).unwrap();
        // After /clear the hook's session id is new; the process is the same.
        assert_eq!(
            p.named(&ids("new"), Some(&host(7))),
            Named::Name("api".into())
        );
        assert_eq!(p.named(&ids("s1"), None), Named::Name("api".into()));
        // A reused pid with another start time is another process.
        let reused = proto::Host {
            pid: 7,
            started: "999".into(),
        };
        assert_eq!(p.named(&ids("new"), Some(&reused)), Named::Unknown);
        // A shim without a name: nothing to wait for.
        p.attach(2, host(8), false);
        assert_eq!(p.named(&[], Some(&host(8))), Named::None);
        p.detach(2);
        assert_eq!(p.named(&[], Some(&host(8))), Named::Unknown);
    }

    #[test]
    fn a_held_name_is_refused_to_another_connection() {
        let p = Presence::new();
        p.bind("api", session(1)).unwrap();
        assert_eq!(p.bind("api", session(2)).unwrap_err().conn, 1);
        p.bind("api", session(1)).unwrap();
        assert!(!p.unbind("api", 2));
        assert!(p.unbind("api", 1));
        p.bind("api", session(2)).unwrap();
        assert_eq!(p.named(&["s2".into()], None), Named::Name("api".into()));
    }

    #[test]
    fn a_name_held_by_a_hung_up_peer_is_free() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let p = Presence::new();
        let mut holder = session(1);
        holder.peer = Peer::watch(std::os::fd::AsFd::as_fd(&ours));
        p.bind("api", holder).unwrap();
        assert!(p.bind("api", session(2)).is_err());
        assert_eq!(p.online(), ["api"]);
        drop(theirs);
        assert!(p.holder("api").is_none());
        assert!(p.online().is_empty());
        p.bind("api", session(2)).unwrap();
        assert!(
            !p.unbind("api", 1),
            "the old connection's cleanup frees nothing"
        );
    }

    #[test]
    fn a_newer_waiter_replaces_the_older() {
        let p = Presence::new();
        let old = p.take_slot("session-1");
        let new = p.take_slot("session-1");
        assert!(old.replaced.is_cancelled());
        drop(old); // must not free the newer holder's slot
        let newest = p.take_slot("session-1");
        assert!(new.replaced.is_cancelled());
        assert!(!newest.replaced.is_cancelled());
    }

    #[test]
    fn waiting_counts_follow_guards() {
        let p = Presence::new();
        let a = p.waiting("a");
        let b = p.waiting("a");
        assert!(p.is_waiting("a"));
        drop(a);
        assert!(p.is_waiting("a"));
        drop(b);
        assert!(!p.is_waiting("a"));
    }
}
