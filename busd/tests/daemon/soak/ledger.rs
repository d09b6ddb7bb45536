//! The books of a soak scenario: what was sent (acknowledged, or maybe applied when the call
//! failed), what each reader got, and the count of what was lost or delivered twice.
//!
//! Every message carries a unique token as its content, so a send that busd applied twice
//! shows up as one token under two ids, and a delivery that repeats shows up as one id read
//! twice by the same reader.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// One scenario's line of the summary table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub scenario: String,
    pub operations: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub errors: u64,
    /// Latencies of the calls measured, for the p99.
    pub latencies: Vec<Duration>,
    /// What went wrong, for the report (the first few of each kind).
    pub notes: Vec<String>,
}

impl Row {
    pub fn new(scenario: &str) -> Row {
        Row {
            scenario: scenario.to_owned(),
            ..Row::default()
        }
    }

    pub fn note(&mut self, note: String) {
        if self.notes.len() < 20 {
            self.notes.push(note);
        }
    }

    /// An unexpected error, noted.
    pub fn error(&mut self, note: String) {
        self.errors += 1;
        self.note(note);
    }

    pub fn p99(&self) -> Option<Duration> {
        let mut l = self.latencies.clone();
        if l.is_empty() {
            return None;
        }
        l.sort();
        Some(l[((l.len() * 99).div_ceil(100)).saturating_sub(1)])
    }

    pub fn failed(&self) -> bool {
        self.lost + self.duplicated + self.errors > 0
    }
}

#[derive(Debug, Clone)]
struct Sent {
    from: String,
    to: String,
    /// The id busd acknowledged; `None` when the call failed (it may or may not have been
    /// applied).
    acked: Option<i64>,
}

/// Sends and deliveries of one scenario.
#[derive(Default)]
pub struct Ledger {
    sent: Mutex<HashMap<String, Sent>>,
    /// reader → (id, token) in the order read.
    got: Mutex<HashMap<String, Vec<(i64, String)>>>,
}

impl Ledger {
    pub fn sent(&self, from: &str, to: &str, token: String, acked: Option<i64>) {
        let sent = Sent {
            from: from.to_owned(),
            to: to.to_owned(),
            acked,
        };
        self.sent.lock().unwrap().insert(token, sent);
    }

    pub fn got(&self, reader: &str, id: i64, token: String) {
        self.got
            .lock()
            .unwrap()
            .entry(reader.to_owned())
            .or_default()
            .push((id, token));
    }

    /// Check every delivery among `names` into `row`: each acknowledged message reached each
    /// of its recipients exactly once under its acknowledged id; a maybe-sent one at most once;
    /// nothing arrived that nobody sent.
    pub fn settle(&self, names: &[String], row: &mut Row) {
        let sent = self.sent.lock().unwrap();
        let got = self.got.lock().unwrap();
        // token → reader → ids read
        let mut reads: HashMap<&str, BTreeMap<&str, Vec<i64>>> = HashMap::new();
        for (reader, list) in got.iter() {
            for (id, token) in list {
                if !sent.contains_key(token) {
                    row.error(format!(
                        "{reader} read message {id} ({token}) that nobody sent"
                    ));
                    continue;
                }
                reads
                    .entry(token)
                    .or_default()
                    .entry(reader)
                    .or_default()
                    .push(*id);
            }
        }
        for (token, s) in sent.iter() {
            let recipients: Vec<&str> = if s.to == proto::limits::BROADCAST {
                names
                    .iter()
                    .map(String::as_str)
                    .filter(|n| *n != s.from)
                    .collect()
            } else {
                vec![s.to.as_str()]
            };
            let by_reader = reads.remove(token.as_str()).unwrap_or_default();
            let mut ids: Vec<i64> = by_reader.values().flatten().copied().collect();
            ids.sort();
            ids.dedup();
            if ids.len() > 1 {
                row.duplicated += ids.len() as u64 - 1;
                row.note(format!("{token} was stored as several messages: {ids:?}"));
            }
            if let (Some(acked), [only]) = (s.acked, ids.as_slice())
                && *only != acked
            {
                row.error(format!(
                    "{token} was acknowledged as {acked} but read as {only}"
                ));
            }
            for r in recipients {
                let n = by_reader.get(r).map_or(0, Vec::len) as u64;
                if n > 1 {
                    row.duplicated += n - 1;
                    row.note(format!("{r} read {token} {n} times"));
                }
                if n == 0 && s.acked.is_some() {
                    row.lost += 1;
                    row.note(format!("{r} never read {token} (id {:?})", s.acked));
                }
            }
            for reader in by_reader.keys() {
                if *reader == s.from || (s.to != proto::limits::BROADCAST && *reader != s.to) {
                    row.error(format!("{reader} read {token}, which was not for it"));
                }
            }
        }
    }

    /// Sends made: (acknowledged, maybe applied).
    pub fn counts(&self) -> (u64, u64) {
        let sent = self.sent.lock().unwrap();
        let acked = sent.values().filter(|s| s.acked.is_some()).count() as u64;
        (acked, sent.len() as u64 - acked)
    }
}

/// Appended tokens of one state key: acknowledged, or maybe applied.
#[derive(Default)]
pub struct Appends {
    pub acked: Vec<String>,
    pub maybe: Vec<String>,
}

impl Appends {
    /// Check the key's final `value` (one token a line) and `version` into `row`.
    pub fn settle(&self, key: &str, value: &str, version: i64, row: &mut Row) {
        let mut count: HashMap<&str, u64> = HashMap::new();
        let lines: Vec<&str> = value.lines().filter(|l| !l.is_empty()).collect();
        for line in &lines {
            *count.entry(line).or_default() += 1;
        }
        for token in &self.acked {
            match count.remove(token.as_str()) {
                None => {
                    row.lost += 1;
                    row.note(format!("{key}: the acknowledged append {token} is missing"));
                }
                Some(1) => {}
                Some(n) => {
                    row.duplicated += n - 1;
                    row.note(format!("{key}: {token} was appended {n} times"));
                }
            }
        }
        for token in &self.maybe {
            if let Some(n) = count.remove(token.as_str())
                && n > 1
            {
                row.duplicated += n - 1;
                row.note(format!("{key}: {token} was appended {n} times"));
            }
        }
        for (token, _) in count {
            row.error(format!("{key}: {token} was never appended"));
        }
        if version != lines.len() as i64 {
            row.error(format!(
                "{key}: version {version} after {} applied appends",
                lines.len()
            ));
        }
    }
}
