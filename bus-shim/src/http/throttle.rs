//! Slowing down repeated failed authentication from one peer, in bounded memory.
//!
//! Each peer address has a count of failures in the last [`WINDOW`]; past [`FREE_FAILURES`]
//! every further refusal waits longer before it is answered (doubling up to [`MAX_DELAY`]).
//! Successful requests are never delayed. At most [`MAX_PEERS`] addresses are remembered: when
//! full, the one whose last failure is oldest is forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const FREE_FAILURES: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(50);
/// Below common HTTP clients' own timeouts (5 s and up), so a refusal still arrives as one.
const MAX_DELAY: Duration = Duration::from_secs(2);
pub const MAX_PEERS: usize = 4096;

#[derive(Default)]
pub struct Throttle {
    peers: Mutex<HashMap<IpAddr, Strikes>>,
}

#[derive(Clone, Copy)]
struct Strikes {
    count: u32,
    last: Instant,
}

impl Throttle {
    /// Record a failure of `peer`; returns how long to wait before answering it.
    pub fn failed(&self, peer: IpAddr) -> Duration {
        let now = Instant::now();
        let mut peers = self.peers.lock().unwrap();
        if !peers.contains_key(&peer) && peers.len() >= MAX_PEERS {
            peers.retain(|_, s| now.duration_since(s.last) < WINDOW);
            if peers.len() >= MAX_PEERS
                && let Some(oldest) = peers.iter().min_by_key(|(_, s)| s.last).map(|(ip, _)| *ip)
            {
                peers.remove(&oldest);
            }
        }
        let strikes = peers.entry(peer).or_insert(Strikes {
            count: 0,
            last: now,
        });
        if now.duration_since(strikes.last) >= WINDOW {
            strikes.count = 0;
        }
        strikes.count += 1;
        strikes.last = now;
        delay(strikes.count)
    }

    /// How many peers are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.peers.lock().unwrap().len()
    }
}

fn delay(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES + 1) {
        None => Duration::ZERO,
        Some(n) => FIRST_DELAY.saturating_mul(1u32 << n.min(16)).min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_a_few_failures_and_double_up_to_a_bound() {
        assert_eq!(delay(1), Duration::ZERO);
        assert_eq!(delay(FREE_FAILURES), Duration::ZERO);
        assert_eq!(delay(FREE_FAILURES + 1), FIRST_DELAY);
        assert_eq!(delay(FREE_FAILURES + 2), FIRST_DELAY * 2);
        assert_eq!(delay(40), MAX_DELAY);
    }

    #[test]
    fn memory_is_bounded_by_the_number_of_peers() {
        let t = Throttle::default();
        for i in 0..(MAX_PEERS as u32 + 100) {
            t.failed(IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(t.len(), MAX_PEERS);
        let peer = IpAddr::from([10, 0, 0, 1]);
        let delays: Vec<Duration> = (0..FREE_FAILURES + 2).map(|_| t.failed(peer)).collect();
        assert_eq!(delays[FREE_FAILURES as usize], FIRST_DELAY);
        assert_eq!(delays[FREE_FAILURES as usize + 1], FIRST_DELAY * 2);
    }
}
