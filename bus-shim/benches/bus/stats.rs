//! Latency samples and their summaries.

use std::time::Duration;

/// Latencies of one operation.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn new() -> Samples {
        Samples::default()
    }

    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (0..=1) in milliseconds, nearest rank.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        let mut sorted = self.0.clone();
        sorted.sort();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Some(ms(sorted[rank - 1]))
    }

    pub fn p50(&self) -> Option<f64> {
        self.quantile_ms(0.5)
    }

    pub fn p99(&self) -> Option<f64> {
        self.quantile_ms(0.99)
    }

    pub fn max(&self) -> Option<f64> {
        self.0.iter().max().map(|d| ms(*d))
    }

    /// Every sample in milliseconds, sorted (for charts).
    pub fn sorted_ms(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.0.iter().map(|d| ms(*d)).collect();
        v.sort_by(f64::total_cmp);
        v
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
