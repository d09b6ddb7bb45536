//! Replies taken out of order (`TakeReply`), exactly once across resends, and threads.

use super::*;
use crate::store::{Keyed, Recorded};

pub fn a_reply_is_taken_out_of_order_and_the_rest_of_the_inbox_stays<S: Subject>(mut bus: Bus<S>) {
    let ask = bus.send("ann", "bob", "schema?");
    let before = bus.send("cy", "ann", "unrelated, earlier");
    assert_eq!(bus.take(None, "ann", ask.id), None, "no reply yet");
    let reply = bus.reply("bob", "ann", ask.id);
    let after = bus.send("cy", "ann", "unrelated, later");
    assert_eq!(bus.take(None, "ann", ask.id), Some(reply.id));
    assert_eq!(bus.take(None, "ann", ask.id), None, "taken once");
    let page = bus.peek("ann", 100);
    assert_eq!(
        ids(&page),
        [before.id, after.id],
        "the reply is not in the inbox"
    );
    assert_eq!(page.pending, 2);
    assert_eq!(ids(&bus.consume("ann", 1)), [before.id]);
    assert_eq!(ids(&bus.consume("ann", 100)), [after.id]);
    assert_eq!(bus.consume("ann", 100), Page::default());
    let status = bus.db().message_status(reply.id).unwrap();
    assert_eq!(status.readers.len(), 1, "the taken reply has its receipt");
    assert!(status.unread.is_empty());
}

pub fn only_a_reply_to_the_asker_is_taken_and_a_consumed_one_is_not_handed_out_again<S: Subject>(
    mut bus: Bus<S>,
) {
    let ask = bus.send("ann", "all", "who has the schema?");
    bus.send_m(reply_w(None, "bob", "cy", ask.id)).unwrap(); // not for ann
    bus.send_m(reply_w(None, "ann", "bob", ask.id)).unwrap(); // ann's own
    assert_eq!(bus.take(None, "ann", ask.id), None);
    let broadcast = bus.reply("bob", "all", ask.id);
    let direct = bus.reply("cy", "ann", ask.id);
    assert_eq!(
        bus.take(None, "ann", ask.id),
        Some(broadcast.id),
        "the first"
    );
    // A reply the inbox handed over first is read: the ask does not hand it out again.
    assert_eq!(ids(&bus.consume("ann", 100)), [direct.id]);
    assert_eq!(bus.take(None, "ann", ask.id), None);
}

pub fn a_resent_ask_gets_the_same_reply_and_a_new_ask_a_new_one<S: Subject>(mut bus: Bus<S>) {
    let ask = bus
        .send_m(send_w(key(1), "ann", "bob", "ask", 5.0))
        .unwrap();
    assert_eq!(bus.take(key(1), "ann", ask.id), None);
    let first = bus.reply("bob", "ann", ask.id);
    let second = bus.reply("cy", "ann", ask.id);
    assert_eq!(bus.take(key(1), "ann", ask.id), Some(first.id));
    // The answer was lost in a crash: the resend sends nothing and takes the same reply.
    assert_eq!(
        bus.send_m(send_w(key(1), "ann", "bob", "ask", 5.0)),
        Ok(ask.clone())
    );
    assert_eq!(bus.take(key(1), "ann", ask.id), Some(first.id));
    assert_eq!(bus.messages(), 3);
    assert_eq!(
        bus.db().applied(&key(1).unwrap(), Keyed::Send),
        Ok(Some(Recorded::Message(ask.clone(), Some(first))))
    );
    // The second reply is still unread, for the inbox.
    assert_eq!(ids(&bus.peek("ann", 100)), [second.id]);
}

pub fn the_record_of_an_ask_lives_as_long_as_its_wait<S: Subject>(mut bus: Bus<S>) {
    let ask = bus
        .send_m(send_w(key(1), "ann", "bob", "ask", 5.0))
        .unwrap();
    let long = TakeReply {
        key: key(1),
        name: "ann".into(),
        message: ask.id,
        keep_until: 5.0 + 3600.0,
        last: false,
        now: 5.0,
    };
    assert_eq!(bus.take_m(long), Ok(None));
    // Twenty minutes later (past the usual memory of a key) the send is still recorded.
    bus.send_m(send_w(None, "cy", "dee", "later", 5.0 + 1200.0))
        .unwrap();
    assert_eq!(
        bus.send_m(send_w(key(1), "ann", "bob", "ask", 5.0 + 1200.0)),
        Ok(ask)
    );
    assert_eq!(bus.messages(), 2);
}

pub fn a_thread_is_the_whole_chain_with_its_branches_as_far_as_the_reader_sees<S: Subject>(
    mut bus: Bus<S>,
) {
    let root = bus.send("ann", "bob", "login change?");
    let r1 = bus.reply("bob", "ann", root.id);
    let r2 = bus.reply("cy", "all", root.id);
    let r11 = bus.reply("ann", "bob", r1.id);
    let hidden = bus.reply("bob", "cy", r2.id); // between others: not ann's to see
    let under_hidden = bus.reply("cy", "ann", hidden.id);
    let _elsewhere = bus.send("bob", "ann", "another topic");
    let all = vec![root.id, r1.id, r2.id, r11.id, under_hidden.id];
    for from in [root.id, r11.id, r2.id, under_hidden.id] {
        assert_eq!(bus.thread("ann", from), all, "from {from}");
    }
    assert_eq!(
        bus.thread("cy", r1.id),
        [r2.id, hidden.id, under_hidden.id],
        "cy sees its own, its mail and broadcasts"
    );
    assert_eq!(bus.thread("dee", root.id), [r2.id]);
    // Reading a thread consumes nothing.
    assert_eq!(bus.peek("ann", 100).pending, 4);
    assert!(matches!(
        bus.db().thread("ann", 999),
        Err(StoreError::UnknownMessage(999))
    ));
}

pub fn while_an_ask_waits_its_replies_are_its_own_and_the_inbox_cursor_stays_before_them<
    S: Subject,
>(
    mut bus: Bus<S>,
) {
    let ask = bus.ask(None, "ann", "bob");
    let reply = bus.reply("bob", "ann", ask.id);
    let other = bus.send("cy", "ann", "other mail");
    // A concurrent inbox of ann (a Stop hook still waiting) sees only the other mail.
    let page = bus.peek("ann", 100);
    assert_eq!((ids(&page), page.pending), (vec![other.id], 1));
    assert_eq!(ids(&bus.consume("ann", 100)), [other.id]);
    assert_eq!(
        bus.cursor("ann"),
        reply.id - 1,
        "not past the reserved reply"
    );
    assert_eq!(bus.consume("ann", 100), Page::default(), "nothing twice");
    // The ask takes it; the reservation ends with that.
    assert_eq!(bus.take(None, "ann", ask.id), Some(reply.id));
    let late = bus.reply("cy", "ann", ask.id);
    assert_eq!(
        ids(&bus.consume("ann", 100)),
        [late.id],
        "a later reply is mail"
    );
    assert_eq!(bus.rows(Rows::Reservations), 0);
}

pub fn an_ask_that_stops_waiting_takes_what_came_or_leaves_later_replies_as_mail<S: Subject>(
    mut bus: Bus<S>,
) {
    let ask = bus.ask(None, "ann", "bob");
    assert_eq!(bus.last_take("ann", ask.id), None, "timed out");
    let late = bus.reply("bob", "ann", ask.id);
    assert_eq!(ids(&bus.peek("ann", 100)), [late.id]);
    // A resent ask holds the reservation again, as long as one of them still waits.
    let Ok(resent) = bus.ask_m(ask_w(key(7), "cy", "bob")) else {
        panic!()
    };
    assert_eq!(bus.ask_m(ask_w(key(7), "cy", "bob")), Ok(resent.clone()));
    assert_eq!(
        bus.last_take("cy", resent.id),
        None,
        "the first one stops waiting"
    );
    let reply = bus.reply("bob", "cy", resent.id);
    assert!(
        bus.peek("cy", 100).messages.is_empty(),
        "still held by the resend"
    );
    assert_eq!(bus.take(key(7), "cy", resent.id), Some(reply.id));
    assert_eq!(
        bus.take(key(7), "cy", resent.id),
        Some(reply.id),
        "the same, recorded"
    );
    assert!(bus.peek("cy", 100).messages.is_empty(), "taken, not mail");
}

pub fn reservations_go_with_a_restart_and_leave_the_reply_unread<S: Subject>(mut bus: Bus<S>) {
    let ask = bus.ask(None, "ann", "bob");
    let reply = bus.reply("bob", "ann", ask.id);
    let other = bus.send("cy", "ann", "other");
    assert_eq!(ids(&bus.consume("ann", 100)), [other.id]);
    // busd restarts (a crash, say) before the ask took its reply.
    bus.subject.restart();
    assert_eq!(
        ids(&bus.consume("ann", 100)),
        [reply.id],
        "ordinary mail again, not lost"
    );
    assert_eq!(bus.consume("ann", 100), Page::default());
}
