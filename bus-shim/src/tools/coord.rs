//! The waiting forms of `get_state` and `send`, and `inbox(thread)`: each a single busd call,
//! with the progress notifications and cancellation of a waiting `inbox`.

use proto::client::{Call, call};
use proto::{InboxPage, SendResult, StateList};
use rmcp::model::{ProgressNotificationParam, RequestMetaObject};
use rmcp::{Peer, RoleServer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Bus, PROGRESS_EVERY};

/// A call that waits: what it waits for (the progress message) and for how long.
pub(super) struct Waiting<'a> {
    pub meta: &'a RequestMetaObject,
    pub peer: &'a Peer<RoleServer>,
    pub ct: &'a CancellationToken,
    pub seconds: f64,
    pub what: &'static str,
}

impl Waiting<'_> {
    /// Progress notifications every 10 s while the call waits, if the call carries a token.
    pub(super) fn progress(&self) -> Option<JoinHandle<()>> {
        let token = self.meta.get_progress_token()?;
        let (total, peer, what) = (self.seconds, self.peer.clone(), self.what);
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PROGRESS_EVERY);
            ticks.tick().await;
            let mut elapsed = 0.0;
            loop {
                ticks.tick().await;
                elapsed += PROGRESS_EVERY.as_secs_f64();
                let note = ProgressNotificationParam::new(token.clone(), elapsed)
                    .with_total(total)
                    .with_message(what);
                if peer.notify_progress(note).await.is_err() {
                    break;
                }
            }
        }))
    }
}

impl Bus {
    /// Forward a waiting call, reporting progress until it is answered or cancelled.
    async fn wait_for<T>(&self, call: Call<T>, w: &Waiting<'_>) -> Result<T, String> {
        let progress = w.progress();
        let answer = self.run_until(call, Some(w.ct)).await;
        if let Some(task) = progress {
            task.abort();
        }
        answer
    }

    /// `get_state(key, after_version, wait)`.
    pub(super) async fn wait_state(
        &self,
        key: String,
        after_version: i64,
        w: Waiting<'_>,
    ) -> Result<StateList, String> {
        if key.is_empty() {
            return Err("after_version and wait need a key: name the key to watch".to_owned());
        }
        let wait = call::wait_state(key, after_version, w.seconds);
        self.wait_for(wait, &w).await
    }

    /// `send(…, wait_reply)`. A reply taken for a call the client cancelled meanwhile is held
    /// for the next `inbox`, like the mail of a cancelled consuming `inbox`.
    pub(super) async fn ask(
        &self,
        to: String,
        content: String,
        reply_to: Option<i64>,
        w: Waiting<'_>,
    ) -> Result<SendResult, String> {
        let ask = call::ask(to, content, reply_to, w.seconds);
        let asked = self.wait_for(ask, &w).await?;
        if w.ct.is_cancelled()
            && let Some(reply) = &asked.reply
        {
            let page = InboxPage {
                messages: vec![reply.clone()],
                pending_count: 0,
            };
            self.held.merge(page, true, true);
        }
        Ok(asked.into())
    }

    /// `inbox(thread)`: the thread, consuming nothing (held messages stay held).
    pub(super) async fn thread(&self, id: i64) -> Result<InboxPage, String> {
        self.run(call::thread(id)).await
    }
}
