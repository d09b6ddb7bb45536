//! Tests of the SQLite backend's semantics: inbox and cursor, receipts, at-most-once keys,
//! state, claims, batches and failed commits, replies taken out of order and threads.

use tempfile::TempDir;

use super::SqliteBackend;
use crate::store::{
    AgentRow, Backend, ClaimRow, Keyed, MessageRow, Outcome, Page, Read, Recorded, RequestKey,
    StoreError, Write,
};

struct Bus {
    dir: TempDir,
    db: SqliteBackend,
}

fn bus() -> Bus {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteBackend::open(&dir.path().join("bus.db")).unwrap();
    Bus { dir, db }
}

fn key(request: u64) -> Option<RequestKey> {
    Some(RequestKey {
        client: "client-1".into(),
        request,
    })
}

fn send_w(key: Option<RequestKey>, from: &str, to: &str, content: &str, now: f64) -> Write {
    Write::Send {
        key,
        sender: from.into(),
        to: to.into(),
        content: content.into(),
        reply_to: None,
        now,
    }
}

fn consume_w(key: Option<RequestKey>, name: &str, limit: u32, now: f64) -> Write {
    Write::Consume {
        key,
        name: name.into(),
        limit,
        now,
    }
}

fn set_w(state_key: &str, value: &str, expected: Option<i64>, append: bool) -> Write {
    Write::SetState {
        key: None,
        state_key: state_key.into(),
        value: value.into(),
        by: "ann".into(),
        expected_version: expected,
        append,
        now: 10.0,
    }
}

fn claim_w(key: Option<RequestKey>, path: &str, owner: &str, ttl: f64, now: f64) -> Write {
    Write::Claim {
        key,
        path: path.into(),
        owner: owner.into(),
        ttl,
        now,
    }
}

fn release_w(key: Option<RequestKey>, path: &str, owner: &str, now: f64) -> Write {
    Write::Release {
        key,
        path: path.into(),
        owner: owner.into(),
        now,
    }
}

impl Bus {
    fn write(&mut self, w: Write) -> Result<Outcome, StoreError> {
        let mut outcomes = self.db.write(&[w]).expect("commit");
        assert_eq!(outcomes.len(), 1);
        outcomes.pop().unwrap()
    }

    fn read(&mut self, r: Read) -> Outcome {
        self.db.read(&r).expect("read")
    }

    fn register(&mut self, name: &str, now: f64) -> (AgentRow, u64) {
        let w = Write::Register {
            name: name.into(),
            role: None,
            owns: None,
            session_id: None,
            now,
        };
        match self.write(w) {
            Ok(Outcome::Agent(agent, pending)) => (agent, pending),
            other => panic!("register: {other:?}"),
        }
    }

    fn send(&mut self, from: &str, to: &str, content: &str) -> MessageRow {
        match self.write(send_w(None, from, to, content, 5.0)) {
            Ok(Outcome::Message(m)) => m,
            other => panic!("send: {other:?}"),
        }
    }

    fn consume(&mut self, name: &str, limit: u32) -> Page {
        match self.write(consume_w(None, name, limit, 7.0)) {
            Ok(Outcome::Page(page)) => page,
            other => panic!("consume: {other:?}"),
        }
    }

    fn peek(&mut self, name: &str, limit: u32) -> Page {
        match self.read(Read::Peek {
            name: name.into(),
            limit,
        }) {
            Outcome::Page(page) => page,
            other => panic!("peek: {other:?}"),
        }
    }

    fn cursor(&self, name: &str) -> i64 {
        self.db
            .conn
            .query_row(
                "SELECT last_read_id FROM agents WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.db.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

fn ids(page: &Page) -> Vec<i64> {
    page.messages.iter().map(|m| m.id).collect()
}

mod inbox;
mod keys;
mod replies;
mod state_claims;
