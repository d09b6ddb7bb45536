//! A known message traffic for exactly-once tests: `sessions` named `s0`, `s1`, …, each
//! sending `per_sender` messages, every fourth a broadcast and the others round the other
//! sessions; what each must receive follows from that alone.

use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub sessions: usize,
    pub per_sender: usize,
}

impl Plan {
    pub fn name(&self, i: usize) -> String {
        format!("s{i}")
    }

    /// Who the `seq`th message of `sender` is for.
    pub fn recipient(&self, sender: usize, seq: usize) -> String {
        if seq.is_multiple_of(4) {
            "all".into()
        } else {
            self.name((sender + 1 + seq % (self.sessions - 1)) % self.sessions)
        }
    }

    pub fn content(&self, sender: usize, seq: usize) -> String {
        format!("{}#{seq}", self.name(sender))
    }

    /// What `me` must receive: the contents of every message addressed to it or to everyone,
    /// from anyone else.
    pub fn expected(&self, me: usize) -> BTreeSet<String> {
        (0..self.sessions)
            .filter(|&s| s != me)
            .flat_map(|s| (0..self.per_sender).map(move |q| (s, q)))
            .filter(|&(s, q)| {
                let to = self.recipient(s, q);
                to == "all" || to == self.name(me)
            })
            .map(|(s, q)| self.content(s, q))
            .collect()
    }
}
