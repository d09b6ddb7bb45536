//! `Request::Watch`: wait until anything a viewer shows has changed (`bus top`, the browser
//! view), woken by the hub's commits and presence's changes, never by a timer.

use std::time::Duration;

use proto::{Changes, ErrorKind, Response, WireError, limits};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Handler;

impl Handler<'_> {
    /// The bus's change count once it differs from `after`, waiting up to `wait` seconds.
    pub(super) async fn watch(
        &self,
        after: u64,
        wait: f64,
        cancel: CancellationToken,
    ) -> Result<Response, WireError> {
        limits::seconds("wait", wait, Some(limits::WAIT_MAX_SECONDS))?;
        let deadline = Instant::now() + Duration::from_secs_f64(wait);
        // Subscribed before the first look, so a change in between still wakes us.
        let mut commits = self.shared.hub.every_change();
        let mut presence = self.shared.presence.watch_changes();
        // Counts start at busd's start time, so a restarted busd never repeats one.
        let base = (self.shared.started_at * 1000.0) as u64;
        loop {
            let seq = base + *commits.borrow_and_update() + *presence.borrow_and_update();
            if seq != after || Instant::now() >= deadline || self.ctx.closing.is_cancelled() {
                if seq == after {
                    self.not_restarting()?;
                }
                return Ok(Response::Changed(Changes { seq }));
            }
            tokio::select! {
                _ = commits.changed() => {}
                _ = presence.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
                () = self.ctx.closing.cancelled() => {}
                () = cancel.cancelled() => {
                    return Err(WireError::new(ErrorKind::Cancelled, "cancelled while watching"));
                }
            }
        }
    }
}
