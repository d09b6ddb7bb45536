//! Readers parked in a consuming `inbox(wait)`, served from the commit that brings their mail.
//!
//! A reader whose inbox was empty parks here ([`Db::park`](super::Db::park)) as well as on
//! the hub. When the database thread applies a batch that sends mail to a parked reader's
//! name (or to `all`), it takes the oldest such reader out of the registry and runs the
//! reader's consume in the same transaction, after the batch's writes: cursor, receipts and
//! the request's record are written by the same durable commit as the mail, and the reader
//! is answered when it is durable. One commit per wake instead of two (the send's, then the
//! woken reader's consume).
//!
//! The registry is the one place a reader and the thread agree on who takes: the thread
//! removes a reader before taking for it, and a reader that stops waiting
//! ([`ParkedRead::leave`]) either removes itself (nothing was taken) or finds itself gone
//! and waits for the take's answer, which the thread sends once its transaction ended.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use super::{Consume, Page, RequestKey, StoreError};

/// The broadcast recipient: mail to it is every reader's.
const ALL: &str = "all";

/// The take's answer: the page, or why it was not taken (the reader looks again).
type Taken = Result<Page, StoreError>;

/// Whether the reader's client is still there to be answered.
pub type StillThere = Box<dyn Fn() -> bool + Send>;

/// The parked readers, by name, oldest first.
#[derive(Default)]
pub(super) struct Parked {
    readers: Mutex<Readers>,
}

#[derive(Default)]
struct Readers {
    next_id: u64,
    by_name: HashMap<String, VecDeque<Reader>>,
}

struct Reader {
    id: u64,
    key: Option<RequestKey>,
    limit: u32,
    there: StillThere,
    answer: oneshot::Sender<Taken>,
}

/// Mail a write sent: to a name or to `all`, from a name.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mail {
    pub to: String,
    pub from: String,
}

/// A reader the database thread took, to consume for inside the transaction.
pub(super) struct Take {
    pub consume: Consume,
    answer: oneshot::Sender<Taken>,
}

impl Take {
    pub fn answer(self, taken: Taken) {
        // The reader may have gone meanwhile: its request's record answers its resend.
        let _ = self.answer.send(taken);
    }
}

impl Parked {
    fn lock(&self) -> MutexGuard<'_, Readers> {
        // Every change under the lock is one insert or removal: a panic cannot leave it torn.
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Park `consume`'s reader until mail for its name is taken for it.
    pub fn park(self: &Arc<Self>, consume: Consume, there: StillThere) -> ParkedRead {
        let (answer, taken) = oneshot::channel();
        let mut readers = self.lock();
        readers.next_id += 1;
        let id = readers.next_id;
        readers
            .by_name
            .entry(consume.name.clone())
            .or_default()
            .push_back(Reader {
                id,
                key: consume.key,
                limit: consume.limit,
                there,
                answer,
            });
        ParkedRead {
            parked: Arc::clone(self),
            name: consume.name,
            id,
            taken: Some(taken),
        }
    }

    /// Take the oldest reader still there of each name that `mail` is for (a broadcast is
    /// every name's but its sender's), to consume for at `now`. Readers whose client is gone
    /// are left parked: they end on their own, taking nothing.
    pub fn take(&self, mail: &[Mail], now: f64) -> Vec<Take> {
        if mail.is_empty() {
            return Vec::new();
        }
        let mut readers = self.lock();
        if readers.by_name.is_empty() {
            return Vec::new();
        }
        let mut names: Vec<String> = Vec::new();
        for m in mail {
            if m.to == ALL {
                names.extend(readers.by_name.keys().filter(|n| **n != m.from).cloned());
            } else {
                names.push(m.to.clone());
            }
        }
        names.sort_unstable();
        names.dedup();
        let mut takes = Vec::new();
        for name in names {
            let Some(queue) = readers.by_name.get_mut(&name) else {
                continue;
            };
            let Some(at) = queue.iter().position(|r| (r.there)()) else {
                continue;
            };
            let Some(reader) = queue.remove(at) else {
                continue;
            };
            if queue.is_empty() {
                readers.by_name.remove(&name);
            }
            takes.push(Take {
                consume: Consume {
                    key: reader.key,
                    name,
                    limit: reader.limit,
                    now,
                },
                answer: reader.answer,
            });
        }
        takes
    }

    /// Remove reader `id` of `name`; `false` when the thread took it already.
    fn remove(&self, name: &str, id: u64) -> bool {
        let mut readers = self.lock();
        let Some(queue) = readers.by_name.get_mut(name) else {
            return false;
        };
        let Some(at) = queue.iter().position(|r| r.id == id) else {
            return false;
        };
        queue.remove(at);
        if queue.is_empty() {
            readers.by_name.remove(name);
        }
        true
    }
}

/// A reader's place in the registry. Dropping it unparks the reader (unless taken already:
/// then its record answers a resend of its request).
pub struct ParkedRead {
    parked: Arc<Parked>,
    name: String,
    id: u64,
    /// `None` once the answer was received.
    taken: Option<oneshot::Receiver<Taken>>,
}

impl ParkedRead {
    /// The page taken for this reader, once its commit is durable. Cancel-safe: dropping the
    /// future loses nothing, the answer waits for the next call or for [`ParkedRead::leave`].
    /// An error means nothing was taken; a page may be empty (the mail was not this reader's
    /// to see): either way the reader looks again. Pending forever once answered.
    pub async fn taken(&mut self) -> Taken {
        let Some(rx) = &mut self.taken else {
            return std::future::pending().await;
        };
        let taken = rx.await.unwrap_or(Err(StoreError::Closed));
        self.taken = None;
        taken
    }

    /// Stop waiting: `None` when nothing was taken, else the take's answer (waiting for its
    /// transaction to end, which is at most one batch away).
    pub async fn leave(mut self) -> Option<Taken> {
        if self.parked.remove(&self.name, self.id) {
            self.taken = None;
            return None;
        }
        let rx = self.taken.take()?;
        Some(rx.await.unwrap_or(Err(StoreError::Closed)))
    }
}

impl Drop for ParkedRead {
    fn drop(&mut self) {
        if self.taken.is_some() {
            self.parked.remove(&self.name, self.id);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn consume(name: &str) -> Consume {
        Consume {
            key: None,
            name: name.into(),
            limit: 10,
            now: 0.0,
        }
    }

    fn to(name: &str) -> Mail {
        Mail {
            to: name.into(),
            from: "alice".into(),
        }
    }

    fn there() -> StillThere {
        Box::new(|| true)
    }

    #[tokio::test]
    async fn mail_takes_the_oldest_reader_of_its_name_and_a_broadcast_one_of_each() {
        let parked = Arc::new(Parked::default());
        let first = parked.park(consume("bob"), there());
        let _second = parked.park(consume("bob"), there());
        let _carol = parked.park(consume("carol"), there());
        let takes = parked.take(&[to("bob"), to("bob")], 5.0);
        assert_eq!(takes.len(), 1, "one reader per name");
        assert_eq!(takes[0].consume.name, "bob");
        assert_eq!(takes[0].consume.now, 5.0);
        for take in takes {
            take.answer(Ok(Page::default()));
        }
        assert_eq!(first.leave().await, Some(Ok(Page::default())), "the oldest");
        let names: Vec<_> = parked
            .take(&[to(ALL)], 6.0)
            .into_iter()
            .map(|t| t.consume.name)
            .collect();
        assert_eq!(names.len(), 2, "bob's second reader and carol: {names:?}");
        assert!(parked.take(&[to("bob")], 7.0).is_empty(), "none left");
    }

    struct Unheard;

    impl crate::store::CommitListener for Unheard {
        fn committed(&self, _: &[crate::store::Committed]) {}
        fn missed(&self) {}
    }

    /// A database thread over a fresh SQLite file (with its reader).
    pub(in crate::store) fn db() -> (tempfile::TempDir, crate::store::Db) {
        let dir = tempfile::tempdir().expect("temp folder");
        let backend = crate::store::sqlite::SqliteBackend::open(&dir.path().join("bus.db"))
            .expect("open the store");
        let (db, _thread) = crate::store::Db::spawn(Box::new(backend), Unheard).expect("thread");
        (dir, db)
    }

    pub(in crate::store) fn mail(to: &str, content: &str) -> crate::store::NewMessage {
        crate::store::NewMessage {
            key: None,
            sender: "alice".into(),
            to: to.into(),
            content: content.into(),
            reply_to: None,
            now: 1.0,
        }
    }

    /// The page taken for `parked`, within 10 s.
    async fn answered(parked: &mut ParkedRead, what: &str) -> Page {
        tokio::time::timeout(std::time::Duration::from_secs(10), parked.taken())
            .await
            .expect(what)
            .expect("taken")
    }

    #[tokio::test]
    async fn a_send_to_a_parked_reader_is_taken_for_it_by_the_same_commit() {
        let (_dir, db) = db();
        assert!(
            db.consume(consume("bob"))
                .await
                .expect("look")
                .messages
                .is_empty()
        );
        let mut parked = db.park(consume("bob"), there());
        let before = db.transactions();
        let sent = db.send(mail("bob", "hi")).await.expect("send");
        let page = answered(&mut parked, "the send's commit answers the parked reader").await;
        assert_eq!(
            db.transactions(),
            before + 1,
            "one commit for the send and the take"
        );
        let ids: Vec<_> = page.messages.iter().map(|m| m.id).collect();
        assert_eq!((ids, page.pending), (vec![sent.id], 0));
        assert_eq!(parked.leave().await, None, "answered once");
        let after = db.peek("bob", 10).await.expect("peek");
        assert_eq!(after, Page::default(), "taken: nothing left unread");
        let status = db.message_status(sent.id).await.expect("status");
        assert_eq!(status.readers.len(), 1, "bob's receipt: {status:?}");
    }

    #[tokio::test]
    async fn a_broadcast_is_taken_for_every_parked_name_but_its_sender() {
        let (_dir, db) = db();
        let mut bob = db.park(consume("bob"), there());
        let alice = db.park(consume("alice"), there());
        let sent = db.send(mail("all", "everyone")).await.expect("send");
        let page = answered(&mut bob, "the broadcast's commit answers bob").await;
        assert_eq!(
            page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            [sent.id]
        );
        assert_eq!(alice.leave().await, None, "not taken for its sender");
    }

    #[tokio::test]
    async fn a_reader_that_left_is_not_taken_for() {
        let (_dir, db) = db();
        let parked = db.park(consume("bob"), there());
        assert_eq!(parked.leave().await, None);
        let sent = db.send(mail("bob", "later")).await.expect("send");
        let page = db.peek("bob", 10).await.expect("peek");
        assert_eq!(
            page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            [sent.id]
        );
    }

    #[tokio::test]
    async fn a_reader_that_leaves_first_is_not_taken_and_one_gone_is_left_parked() {
        let parked = Arc::new(Parked::default());
        let left = parked.park(consume("bob"), there());
        assert_eq!(left.leave().await, None);
        assert!(parked.take(&[to("bob")], 1.0).is_empty());
        let gone = parked.park(consume("bob"), Box::new(|| false));
        assert!(parked.take(&[to("bob")], 1.0).is_empty(), "gone");
        drop(gone);
        assert!(parked.lock().by_name.is_empty(), "dropping unparks");
    }
}
