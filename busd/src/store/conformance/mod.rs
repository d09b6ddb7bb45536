//! The backend conformance suite: every rule of the storage contract (docs/SPEC.md), stated
//! once as tests that any [`Backend`] runs.
//!
//! A backend instantiates the suite with a factory of fresh, empty stores:
//!
//! ```ignore
//! crate::store::conformance::suite!(conformance, || Some(SqliteSubject::new()));
//! ```
//!
//! which expands to a module `conformance` holding one `#[test]` per rule. The factory answers
//! a [`Subject`]: the backend, plus the few probes of its inner state that the rules assert
//! (the read cursor, how many receipts, records, claims and reservations it keeps) and a
//! restart (reopen the same store, as a new busd does). Time is the caller's: every write
//! carries its `now`, so the rules pass it explicitly.
//!
//! The rules, by file: [`inbox`] (visibility, the broadcast name `all`, the cursor, receipts,
//! exactly-once consume, agents, tail and counts), [`keys`] (request keys applied at most once,
//! `KeyReused`, the replay window, a refused write leaving no trace in its batch, what a
//! transaction reports as committed), [`replies`] (asks, reservations, replies taken out of
//! order, threads), [`state_claims`] (compare-and-set, append and its limit, claims and their
//! expiry, release), [`lifecycle`] (reopening keeps everything; tokens).

pub mod inbox;
pub mod keys;
pub mod lifecycle;
pub mod replies;
pub mod state_claims;

use super::{
    AgentRow, Backend, Claim, ClaimRow, Committed, Consume, MessageRow, NewMessage, Page, Register,
    Release, RequestKey, SetState, StoreError, TakeReply, Tx,
};

/// What the suite needs of a backend under test.
pub trait Subject {
    /// The backend, opened on a store of its own.
    fn backend(&mut self) -> &mut dyn Backend;
    /// The read cursor of `name`: the id after which its unread messages start (0 for a
    /// stranger).
    fn cursor(&mut self, name: &str) -> i64;
    /// How many of `what` the store keeps.
    fn rows(&mut self, what: Rows) -> u64;
    /// Close and reopen the same store, as busd does when it restarts (a crash, say).
    fn restart(&mut self);
}

/// What [`Subject::rows`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Read receipts.
    Receipts,
    /// Records of applied request keys.
    Applied,
    /// Claims, expired ones too.
    Claims,
    /// Reservations of replies for waiting asks.
    Reservations,
}

/// Instantiate the suite: `suite!(name, factory)` makes a module `name` with one `#[test]` per
/// rule, each on a fresh [`Subject`] from `factory` (any `Fn() -> Option<impl Subject>`:
/// `None` when the backend cannot run here, and then the rules pass without running).
macro_rules! suite {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::store::conformance::suite!(@rules $factory;
                inbox::register_creates_keeps_and_replaces,
                inbox::late_joiner_gets_earlier_broadcasts_and_direct_mail,
                inbox::interleaved_sends_and_consumes_deliver_exactly_once,
                inbox::limit_takes_oldest_first_and_counts_the_rest,
                inbox::a_drained_inbox_moves_the_cursor_to_the_newest_message,
                inbox::peek_changes_nothing_and_counts_everything,
                inbox::consume_by_a_stranger_creates_its_row,
                inbox::consume_of_nothing_by_a_stranger_creates_no_row,
                inbox::receipts_and_message_status,
                inbox::reply_to_must_exist,
                inbox::agents_resolve_tail_and_counts,
                inbox::the_sender_never_sees_its_own_mail_and_a_broadcast_is_everyone_elses,
                inbox::mark_read_takes_out_one_message_of_the_name_only,
                keys::a_repeated_send_key_returns_the_first_message,
                keys::a_repeated_consume_key_hands_the_same_messages_over_again,
                keys::an_empty_consume_is_not_recorded,
                keys::repeated_state_claim_and_release_keys_replay,
                keys::keys_are_forgotten_after_ten_minutes,
                keys::a_refused_write_leaves_no_trace_and_spares_its_batch,
                keys::a_key_reused_for_another_command_is_refused_not_answered_with_its_outcome,
                keys::a_transaction_reports_what_it_committed_and_nothing_else,
                replies::a_reply_is_taken_out_of_order_and_the_rest_of_the_inbox_stays,
                replies::only_a_reply_to_the_asker_is_taken_and_a_consumed_one_is_not_handed_out_again,
                replies::a_resent_ask_gets_the_same_reply_and_a_new_ask_a_new_one,
                replies::the_record_of_an_ask_lives_as_long_as_its_wait,
                replies::a_thread_is_the_whole_chain_with_its_branches_as_far_as_the_reader_sees,
                replies::while_an_ask_waits_its_replies_are_its_own_and_the_inbox_cursor_stays_before_them,
                replies::an_ask_that_stops_waiting_takes_what_came_or_leaves_later_replies_as_mail,
                replies::reservations_go_with_a_restart_and_leave_the_reply_unread,
                state_claims::versions_and_compare_and_set,
                state_claims::append_adds_a_line,
                state_claims::values_over_one_mebibyte_are_refused,
                state_claims::state_reads_are_sorted_and_may_leave_values_out,
                state_claims::claims_refuse_others_until_they_expire,
                state_claims::release_rules,
                lifecycle::reopening_the_store_keeps_everything_and_changes_nothing,
                lifecycle::tokens_are_one_per_name_and_revocable,
            );
        }
    };
    (@rules $factory:expr; $($module:ident :: $rule:ident),* $(,)?) => {
        $(
            #[test]
            fn $rule() {
                let factory = $factory;
                // A backend whose server is not to be had here (PostgreSQL without
                // `initdb`) gives none, and its test support has said why once.
                let Some(subject) = factory() else { return };
                $crate::store::conformance::$module::$rule(
                    $crate::store::conformance::Bus::new(subject),
                );
            }
        )*
    };
}
pub(crate) use suite;

/// A store under test, and the calls the rules make of it.
pub struct Bus<S> {
    pub subject: S,
}

pub fn key(request: u64) -> Option<RequestKey> {
    Some(RequestKey {
        client: "client-1".into(),
        request,
    })
}

pub fn send_w(
    key: Option<RequestKey>,
    from: &str,
    to: &str,
    content: &str,
    now: f64,
) -> NewMessage {
    NewMessage {
        key,
        sender: from.into(),
        to: to.into(),
        content: content.into(),
        reply_to: None,
        now,
    }
}

pub fn consume_w(key: Option<RequestKey>, name: &str, limit: u32, now: f64) -> Consume {
    Consume {
        key,
        name: name.into(),
        limit,
        now,
    }
}

pub fn set_w(state_key: &str, value: &str, expected: Option<i64>, append: bool) -> SetState {
    SetState {
        key: None,
        state_key: state_key.into(),
        value: value.into(),
        by: "ann".into(),
        expected_version: expected,
        append,
        now: 10.0,
    }
}

pub fn claim_w(key: Option<RequestKey>, path: &str, owner: &str, ttl: f64, now: f64) -> Claim {
    Claim {
        key,
        path: path.into(),
        owner: owner.into(),
        ttl,
        now,
    }
}

pub fn release_w(key: Option<RequestKey>, path: &str, owner: &str, now: f64) -> Release {
    Release {
        key,
        path: path.into(),
        owner: owner.into(),
        now,
    }
}

pub fn reply_w(key: Option<RequestKey>, from: &str, to: &str, reply_to: i64) -> NewMessage {
    NewMessage {
        key,
        sender: from.into(),
        to: to.into(),
        content: format!("re {reply_to}"),
        reply_to: Some(reply_to),
        now: 6.0,
    }
}

pub fn take_w(key: Option<RequestKey>, name: &str, message: i64) -> TakeReply {
    TakeReply {
        key,
        name: name.into(),
        message,
        keep_until: 8.0,
        last: false,
        now: 8.0,
    }
}

pub fn ask_w(key: Option<RequestKey>, from: &str, to: &str) -> NewMessage {
    NewMessage {
        key,
        sender: from.into(),
        to: to.into(),
        content: "ask".into(),
        reply_to: None,
        now: 5.0,
    }
}

pub fn ids(page: &Page) -> Vec<i64> {
    page.messages.iter().map(|m| m.id).collect()
}

impl<S: Subject> Bus<S> {
    pub fn new(subject: S) -> Bus<S> {
        Bus { subject }
    }

    pub fn db(&mut self) -> &mut dyn Backend {
        self.subject.backend()
    }

    /// Run `writes` as one transaction at `now`: the transaction's own failure, or what the
    /// writes answered and what it reported as committed.
    pub fn batch<T>(
        &mut self,
        now: f64,
        writes: impl FnOnce(&mut dyn Tx) -> T,
    ) -> Result<(T, Vec<Committed>), StoreError> {
        let mut writes = Some(writes);
        let mut answer = None;
        let committed = self.db().transaction(now, &mut |tx| {
            if let Some(writes) = writes.take() {
                answer = Some(writes(tx));
            }
        })?;
        Ok((answer.expect("the backend ran the writes"), committed))
    }

    /// One write in a transaction of its own, which must commit.
    pub fn at<T>(
        &mut self,
        now: f64,
        write: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.batch(now, write).expect("commit").0
    }

    pub fn register_w(&mut self, w: Register) -> Result<(AgentRow, u64), StoreError> {
        self.at(w.now, |tx| tx.register(&w))
    }

    pub fn send_m(&mut self, w: NewMessage) -> Result<MessageRow, StoreError> {
        self.at(w.now, |tx| tx.send(&w))
    }

    pub fn ask_m(&mut self, w: NewMessage) -> Result<MessageRow, StoreError> {
        self.at(w.now, |tx| tx.ask(&w))
    }

    pub fn consume_m(&mut self, w: Consume) -> Result<Page, StoreError> {
        self.at(w.now, |tx| tx.consume(&w))
    }

    pub fn set_m(&mut self, w: SetState) -> Result<i64, StoreError> {
        self.at(w.now, |tx| tx.set_state(&w))
    }

    pub fn claim_m(&mut self, w: Claim) -> Result<ClaimRow, StoreError> {
        self.at(w.now, |tx| tx.claim(&w))
    }

    pub fn release_m(&mut self, w: Release) -> Result<bool, StoreError> {
        self.at(w.now, |tx| tx.release(&w))
    }

    pub fn take_m(&mut self, w: TakeReply) -> Result<Option<MessageRow>, StoreError> {
        self.at(w.now, |tx| tx.take_reply(&w))
    }

    pub fn touch(&mut self, name: &str, now: f64) {
        self.at(now, |tx| tx.touch(name, now)).unwrap();
    }

    pub fn register(&mut self, name: &str, now: f64) -> (AgentRow, u64) {
        self.register_w(Register {
            name: name.into(),
            role: None,
            owns: None,
            session_id: None,
            now,
        })
        .expect("register")
    }

    pub fn send(&mut self, from: &str, to: &str, content: &str) -> MessageRow {
        self.send_m(send_w(None, from, to, content, 5.0))
            .expect("send")
    }

    pub fn consume(&mut self, name: &str, limit: u32) -> Page {
        self.consume_m(consume_w(None, name, limit, 7.0))
            .expect("consume")
    }

    pub fn peek(&mut self, name: &str, limit: u32) -> Page {
        self.db().peek(name, limit).expect("peek")
    }

    pub fn reply(&mut self, from: &str, to: &str, reply_to: i64) -> MessageRow {
        self.send_m(reply_w(None, from, to, reply_to))
            .expect("reply")
    }

    pub fn take(&mut self, key: Option<RequestKey>, name: &str, message: i64) -> Option<i64> {
        let taken = self.take_m(take_w(key, name, message)).expect("take");
        taken.map(|m| m.id)
    }

    pub fn ask(&mut self, key: Option<RequestKey>, from: &str, to: &str) -> MessageRow {
        self.ask_m(ask_w(key, from, to)).expect("ask")
    }

    pub fn last_take(&mut self, name: &str, message: i64) -> Option<i64> {
        let w = TakeReply {
            last: true,
            ..take_w(None, name, message)
        };
        self.take_m(w).expect("take").map(|m| m.id)
    }

    pub fn thread(&mut self, name: &str, id: i64) -> Vec<i64> {
        ids(&self.db().thread(name, id).expect("thread"))
    }

    pub fn cursor(&mut self, name: &str) -> i64 {
        self.subject.cursor(name)
    }

    pub fn rows(&mut self, what: Rows) -> u64 {
        self.subject.rows(what)
    }

    /// How many messages the store holds.
    pub fn messages(&mut self) -> u64 {
        self.db().counts(0.0).expect("counts").messages
    }

    /// Whether `name` has an agent.
    pub fn has_agent(&mut self, name: &str) -> bool {
        let agents = self.db().agents().expect("agents");
        agents.iter().any(|a| a.name == name)
    }
}
