//! Messages a consuming `inbox` took while its call was being cancelled: busd cannot undo the
//! consume and the MCP client drops the answer, so the shim holds them for the next call.

use std::sync::Mutex;

use proto::{InboxPage, Message};
use tokio::sync::watch;

#[derive(Default)]
pub(crate) struct Held {
    messages: Mutex<Vec<Message>>,
    /// Bumped whenever messages are held, to end a consuming wait already under way.
    signal: watch::Sender<u64>,
}

impl Held {
    pub fn is_empty(&self) -> bool {
        self.messages.lock().unwrap().is_empty()
    }

    /// A receiver that changes when messages are held after this call.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.signal.subscribe()
    }

    /// Put held messages in front of `page`; if this call itself was cancelled after
    /// consuming, hold its messages for the next call instead.
    pub fn merge(&self, page: InboxPage, consumed: bool, cancelled: bool) -> InboxPage {
        let mut held = self.messages.lock().unwrap();
        if consumed && cancelled && !page.messages.is_empty() {
            tracing::info!(
                count = page.messages.len(),
                "inbox call cancelled after consuming; holding its messages"
            );
            held.extend(page.messages);
            self.signal.send_modify(|n| *n += 1);
            return InboxPage {
                messages: Vec::new(),
                pending_count: page.pending_count + held.len() as u64,
            };
        }
        if held.is_empty() {
            return page;
        }
        let mut messages: Vec<Message> = if consumed {
            std::mem::take(&mut *held)
        } else {
            held.clone()
        };
        let still_held = held.len() as u64;
        messages.extend(page.messages);
        InboxPage {
            messages,
            pending_count: page.pending_count + still_held,
        }
    }
}
