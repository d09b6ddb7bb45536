//! Wake-ups: committed messages and state writes wake exactly the readers they concern, with
//! no polling.
//!
//! Each name has a `watch` channel bumped when a message for it commits; broadcasts bump one
//! shared channel every reader also watches, so a broadcast costs O(1) however many sessions
//! wait. Each shared-state key waited on has a channel too, set to the version each commit of
//! the key reaches. A reader subscribes *before* it looks at the database, so a commit between
//! its look and its wait still wakes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::store::{CommitListener, Committed};

/// The wake-up hub, shared by every connection and fed by the database thread.
#[derive(Default)]
pub struct Hub {
    names: Mutex<HashMap<String, watch::Sender<u64>>>,
    broadcast: watch::Sender<u64>,
    /// The newest committed message id, for `bus tail`.
    newest: watch::Sender<i64>,
    /// Shared-state keys with a waiting reader: the newest version committed.
    keys: Mutex<HashMap<String, watch::Sender<i64>>>,
    /// Bumped by every committed batch that changed anything (`Request::Watch`).
    changes: watch::Sender<u64>,
}

/// A reader's subscription: resolves when mail for its name (or for everyone) commits. The
/// name's channel is dropped from the hub with its last subscription.
pub struct MailSignal {
    hub: Arc<Hub>,
    name: String,
    direct: watch::Receiver<u64>,
    broadcast: watch::Receiver<u64>,
}

impl Drop for MailSignal {
    fn drop(&mut self) {
        let mut names = self.hub.names.lock().unwrap();
        // Our own receiver still counts until this returns.
        if names
            .get(&self.name)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            names.remove(&self.name);
        }
    }
}

impl MailSignal {
    /// Wait for the next message for this name committed after the subscription (or after the
    /// previous wake-up).
    pub async fn changed(&mut self) {
        // The hub outlives every subscription, so neither channel can close.
        tokio::select! {
            _ = self.direct.changed() => {}
            _ = self.broadcast.changed() => {}
        }
    }
}

/// A reader's subscription to one shared-state key: resolves when a write of it commits. The
/// key's channel is dropped from the hub with its last subscription.
pub struct StateSignal {
    hub: Arc<Hub>,
    key: String,
    version: watch::Receiver<i64>,
}

impl Drop for StateSignal {
    fn drop(&mut self) {
        let mut keys = self.hub.keys.lock().unwrap();
        if keys
            .get(&self.key)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            keys.remove(&self.key);
        }
    }
}

impl StateSignal {
    /// Wait for the next write of this key committed after the subscription (or after the
    /// previous wake-up).
    pub async fn changed(&mut self) {
        // The hub outlives every subscription, so the channel cannot close.
        let _ = self.version.changed().await;
    }
}

impl Hub {
    /// Subscribe to writes of the shared-state key `key`.
    pub fn state(self: &Arc<Self>, key: &str) -> StateSignal {
        let version = self
            .keys
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        StateSignal {
            hub: self.clone(),
            key: key.to_owned(),
            version,
        }
    }

    pub fn new() -> Hub {
        Hub::default()
    }

    /// Subscribe to mail for `name`.
    pub fn mail(self: &Arc<Self>, name: &str) -> MailSignal {
        let direct = self
            .names
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        MailSignal {
            hub: self.clone(),
            name: name.to_owned(),
            direct,
            broadcast: self.broadcast.subscribe(),
        }
    }

    /// How many names have a waiting reader.
    #[cfg(test)]
    fn subscribed_names(&self) -> usize {
        self.names.lock().unwrap().len()
    }

    /// Subscribe to every committed message (its id).
    pub fn every_message(&self) -> watch::Receiver<i64> {
        self.newest.subscribe()
    }

    /// Subscribe to every commit that changed something (`Request::Watch`).
    pub fn every_change(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

impl CommitListener for Arc<Hub> {
    fn committed(&self, events: &[Committed]) {
        self.publish(events);
    }

    fn missed(&self) {
        self.recheck_all();
    }
}

impl Hub {
    /// Wake the readers that `events` concern. Thread-safe: the database thread calls it for
    /// what it committed, and a task that learns of commits made elsewhere (another busd on a
    /// shared database) may call it too.
    pub fn publish(&self, events: &[Committed]) {
        let mut newest = None;
        let mut any_broadcast = false;
        {
            let names = self.names.lock().unwrap();
            for event in events {
                let Committed::Message { id, recipient } = event else {
                    continue;
                };
                newest = newest.max(Some(*id));
                if recipient == proto::limits::BROADCAST {
                    any_broadcast = true;
                } else if let Some(tx) = names.get(recipient) {
                    tx.send_modify(|n| *n += 1);
                }
            }
        }
        if any_broadcast {
            self.broadcast.send_modify(|n| *n += 1);
        }
        {
            let keys = self.keys.lock().unwrap();
            for event in events {
                if let Committed::State { key, version } = event
                    && let Some(tx) = keys.get(key)
                {
                    tx.send_modify(|v| *v = *version);
                }
            }
        }
        if let Some(id) = newest {
            self.newest.send_modify(|n| *n = (*n).max(id));
        }
        if !events.is_empty() {
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// Make every parked reader look again: for when commits may have gone unseen (a listener
    /// for another busd's commits reconnected), so that no wake-up is lost in the gap. A
    /// reader that finds nothing new parks again.
    pub fn recheck_all(&self) {
        self.broadcast.send_modify(|n| *n += 1);
        for tx in self.names.lock().unwrap().values() {
            tx.send_modify(|n| *n += 1);
        }
        for tx in self.keys.lock().unwrap().values() {
            tx.send_modify(|_| {});
        }
        self.newest.send_modify(|_| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn message(id: i64, to: &str) -> Committed {
        Committed::Message {
            id,
            recipient: to.into(),
        }
    }

    #[tokio::test]
    async fn wakes_the_addressee_and_everyone_on_broadcast() {
        let hub = Arc::new(Hub::new());
        let mut a = hub.mail("a");
        let mut b = hub.mail("b");
        hub.committed(&[message(1, "a")]);
        tokio::time::timeout(Duration::from_secs(5), a.changed())
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(20), b.changed())
                .await
                .is_err(),
            "b must not wake for a's mail"
        );
        hub.committed(&[message(2, "all")]);
        tokio::time::timeout(Duration::from_secs(5), b.changed())
            .await
            .unwrap();
        assert_eq!(*hub.every_message().borrow(), 2);
    }

    fn state(key: &str, version: i64) -> Committed {
        Committed::State {
            key: key.into(),
            version,
        }
    }

    #[tokio::test]
    async fn a_state_write_wakes_the_readers_of_its_key_only() {
        let hub = Arc::new(Hub::new());
        let mut schema = hub.state("schema");
        let mut other = hub.state("other");
        let mut mail = hub.mail("a");
        hub.committed(&[state("schema", 8)]);
        tokio::time::timeout(Duration::from_secs(5), schema.changed())
            .await
            .unwrap();
        for (what, woke) in [
            (
                "another key",
                tokio::time::timeout(Duration::from_millis(20), other.changed()).await,
            ),
            (
                "mail",
                tokio::time::timeout(Duration::from_millis(20), mail.changed()).await,
            ),
        ] {
            assert!(woke.is_err(), "{what} must not wake for a write of schema");
        }
        drop((schema, other));
        assert!(
            hub.keys.lock().unwrap().is_empty(),
            "keys leave with their readers"
        );
    }

    #[test]
    fn a_name_leaves_the_hub_with_its_last_subscription() {
        let hub = Arc::new(Hub::new());
        let a1 = hub.mail("a");
        let a2 = hub.mail("a");
        let b = hub.mail("b");
        assert_eq!(hub.subscribed_names(), 2);
        drop(a1);
        assert_eq!(hub.subscribed_names(), 2, "a is still waited on");
        drop(a2);
        drop(b);
        assert_eq!(hub.subscribed_names(), 0);
    }

    #[tokio::test]
    async fn recheck_all_wakes_every_parked_reader_and_publish_works_from_any_thread() {
        let hub = Arc::new(Hub::new());
        let mut mail = hub.mail("a");
        let mut key = hub.state("schema");
        let mut newest = hub.every_message();
        newest.borrow_and_update();
        hub.recheck_all();
        for woke in [
            tokio::time::timeout(Duration::from_secs(5), mail.changed()).await,
            tokio::time::timeout(Duration::from_secs(5), key.changed()).await,
            tokio::time::timeout(Duration::from_secs(5), async {
                newest.changed().await.unwrap();
            })
            .await,
        ] {
            woke.expect("rechecked");
        }
        let other = hub.clone();
        std::thread::spawn(move || other.publish(&[message(9, "a")]))
            .join()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), mail.changed())
            .await
            .unwrap();
        assert_eq!(*hub.every_message().borrow(), 9);
    }

    #[tokio::test]
    async fn a_commit_before_the_wait_is_not_lost() {
        let hub = Arc::new(Hub::new());
        let mut a = hub.mail("a");
        hub.committed(&[message(1, "a")]); // lands between the reader's look and its wait
        tokio::time::timeout(Duration::from_secs(5), a.changed())
            .await
            .unwrap();
    }
}
