//! The chaos monkey: `kill -9` of busd at random moments, some of them in the middle of a
//! busd's start.

use std::time::Duration;

use proto::client::Client;
use proto::paths::BusPaths;
use proto::{Request, Response};
use tokio_util::sync::CancellationToken;

use super::Rng;
use crate::common::{busd_pids, signal};

/// `kill -9` busd at random moments until stopped (and at least `min` times); returns the
/// number of kills and any trouble finding busd. Each kill picks one of `targets` (a bus's
/// paths and a client of it: one, or one per machine of a shared bus). Half of the kills hit
/// a busd known to serve (its pid from `Status`); the other half hit whatever busd of that bus
/// exists right then, which may be one still starting up; some of those are followed within a
/// few milliseconds by another, which catches the busd that the clients start next in the
/// middle of its start.
pub async fn monkey(
    targets: Vec<(BusPaths, Client)>,
    min: u32,
    pace: (Duration, Duration),
    stop: CancellationToken,
    mut rng: Rng,
) -> (u32, Vec<String>) {
    let mut kills = 0;
    let mut notes = Vec::new();
    while !(stop.is_cancelled() && kills >= min) {
        let span = (pace.1 - pace.0).as_millis() as u64;
        let pause = pace.0 + Duration::from_millis(rng.below(span.max(1)));
        tokio::time::sleep(pause).await;
        let (paths, client) = &targets[rng.below(targets.len() as u64) as usize];
        if rng.below(2) == 0 {
            for _ in 0..1 + rng.below(2) {
                let pids = busd_pids(paths);
                for pid in &pids {
                    signal(*pid, libc::SIGKILL);
                }
                if !pids.is_empty() {
                    kills += 1;
                }
                tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
            }
            continue;
        }
        match client.call(Request::Status).await {
            Ok(Response::Status(s)) => {
                signal(s.pid, libc::SIGKILL);
                kills += 1;
            }
            other => notes.push(format!("the monkey could not find busd: {other:?}")),
        }
    }
    (kills, notes)
}
