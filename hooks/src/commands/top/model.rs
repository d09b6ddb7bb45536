//! The state of `bus top`: what busd last said, what the person has selected, scrolled and
//! filtered, and the keys that change it. No drawing and no I/O here.

use std::collections::{HashMap, VecDeque};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use proto::{Agent, ClaimEntry, Message, StateKey};

use super::feed::Snapshot;

/// The most messages kept for the view.
const KEEP: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Agents,
    Messages,
    Claims,
    State,
}

impl Pane {
    const ORDER: [Pane; 4] = [Pane::Agents, Pane::Messages, Pane::Claims, Pane::State];

    fn step(self, by: isize) -> Pane {
        let i = Pane::ORDER.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Pane::ORDER[(i + by).rem_euclid(4) as usize]
    }
}

/// What a filter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// Agents, senders and recipients, claim owners and key authors containing the text.
    Name,
    /// Claims and keys containing the text, agents owning it, messages mentioning it.
    Path,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub kind: FilterKind,
    pub text: String,
}

/// A message, or its whole thread, opened in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// Message ids shown, with their depth in the thread.
    pub rows: Vec<(i64, usize)>,
    /// Opened as a thread (`t`), not as one message (Enter).
    pub thread: bool,
    pub scroll: u16,
}

/// One line of the messages pane: a message and its depth in its reply chain.
pub struct Line<'a> {
    pub message: &'a Message,
    pub depth: usize,
}

#[derive(Default)]
pub struct App {
    pub agents: Vec<Agent>,
    pub claims: Vec<ClaimEntry>,
    pub keys: Vec<StateKey>,
    pub messages: VecDeque<Message>,
    /// When busd answered the claims (Unix seconds): their time left counts down from it.
    pub claims_at: f64,
    pub focus: Option<Pane>,
    /// The selected row of each pane.
    pub selected: HashMap<&'static str, usize>,
    pub filter: Option<Filter>,
    /// A filter being typed.
    pub typing: Option<Filter>,
    pub detail: Option<Detail>,
    /// Said in the footer: busd stopped, a call failed.
    pub notice: Option<String>,
    pub quit: bool,
}

impl App {
    pub fn focus(&self) -> Pane {
        self.focus.unwrap_or(Pane::Agents)
    }

    pub fn apply(&mut self, snapshot: Snapshot) {
        self.agents = snapshot.agents;
        self.claims = snapshot.claims;
        self.keys = snapshot.keys;
        self.claims_at = snapshot.at;
        self.messages.extend(snapshot.messages);
        while self.messages.len() > KEEP {
            self.messages.pop_front();
        }
        self.notice = None;
    }

    /// Seconds a claim has left at `now`.
    pub fn time_left(&self, claim: &ClaimEntry, now: f64) -> f64 {
        claim.ttl_remaining - (now - self.claims_at)
    }

    pub fn visible_agents(&self) -> Vec<&Agent> {
        self.agents
            .iter()
            .filter(|a| match &self.filter {
                None => true,
                Some(Filter {
                    kind: FilterKind::Name,
                    text,
                }) => a.name.contains(text.as_str()),
                Some(Filter {
                    kind: FilterKind::Path,
                    text,
                }) => {
                    proto::overlap::any(&a.owns, text)
                        || a.owns.iter().any(|g| g.contains(text.as_str()))
                        || self
                            .claims
                            .iter()
                            .any(|c| c.owner == a.name && c.path.contains(text.as_str()))
                }
            })
            .collect()
    }

    pub fn visible_claims(&self, now: f64) -> Vec<&ClaimEntry> {
        self.claims
            .iter()
            .filter(|c| self.time_left(c, now) > 0.0)
            .filter(|c| match &self.filter {
                None => true,
                Some(Filter {
                    kind: FilterKind::Name,
                    text,
                }) => c.owner.contains(text.as_str()),
                Some(Filter {
                    kind: FilterKind::Path,
                    text,
                }) => c.path.contains(text.as_str()),
            })
            .collect()
    }

    pub fn visible_keys(&self) -> Vec<&StateKey> {
        self.keys
            .iter()
            .filter(|k| match &self.filter {
                None => true,
                Some(Filter {
                    kind: FilterKind::Name,
                    text,
                }) => k.updated_by.contains(text.as_str()),
                Some(Filter {
                    kind: FilterKind::Path,
                    text,
                }) => k.key.contains(text.as_str()),
            })
            .collect()
    }

    fn shows(&self, m: &Message) -> bool {
        match &self.filter {
            None => true,
            Some(Filter {
                kind: FilterKind::Name,
                text,
            }) => m.from.contains(text.as_str()) || m.to.contains(text.as_str()),
            Some(Filter {
                kind: FilterKind::Path,
                text,
            }) => m.content.contains(text.as_str()),
        }
    }

    /// The messages pane: threads with the latest activity first; within a thread the root,
    /// then each reply under what it answers (indented by its depth), oldest first.
    pub fn message_lines(&self) -> Vec<Line<'_>> {
        let by_id: HashMap<i64, &Message> = self.messages.iter().map(|m| (m.id, m)).collect();
        let mut children: HashMap<i64, Vec<&Message>> = HashMap::new();
        let mut roots = Vec::new();
        for m in &self.messages {
            match m.reply_to.filter(|r| by_id.contains_key(r)) {
                Some(parent) => children.entry(parent).or_default().push(m),
                None => roots.push(m),
            }
        }
        let mut threads: Vec<(i64, Vec<Line<'_>>)> = roots
            .into_iter()
            .map(|root| {
                let mut lines = Vec::new();
                let mut stack = vec![(root, 0)];
                while let Some((m, depth)) = stack.pop() {
                    lines.push(Line { message: m, depth });
                    if let Some(kids) = children.get(&m.id) {
                        stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
                    }
                }
                let latest = lines.iter().map(|l| l.message.id).max().unwrap_or(0);
                (latest, lines)
            })
            .collect();
        threads.sort_by_key(|(latest, _)| std::cmp::Reverse(*latest));
        threads
            .into_iter()
            .flat_map(|(_, lines)| lines)
            .filter(|l| self.shows(l.message))
            .collect()
    }

    /// The thread holding message `id`, root first, each reply under what it answers.
    fn thread(&self, id: i64) -> Vec<(i64, usize)> {
        let by_id: HashMap<i64, &Message> = self.messages.iter().map(|m| (m.id, m)).collect();
        let mut root = id;
        while let Some(parent) = by_id.get(&root).and_then(|m| m.reply_to) {
            if !by_id.contains_key(&parent) {
                break;
            }
            root = parent;
        }
        let mut rows = Vec::new();
        let mut stack = vec![(root, 0)];
        while let Some((m, depth)) = stack.pop() {
            rows.push((m, depth));
            let mut kids: Vec<i64> = self
                .messages
                .iter()
                .filter(|k| k.reply_to == Some(m))
                .map(|k| k.id)
                .collect();
            kids.reverse();
            stack.extend(kids.into_iter().map(|k| (k, depth + 1)));
        }
        rows
    }

    pub fn message(&self, id: i64) -> Option<&Message> {
        self.messages.iter().find(|m| m.id == id)
    }

    fn rows(&self, pane: Pane) -> usize {
        let now = proto::time::now();
        match pane {
            Pane::Agents => self.visible_agents().len(),
            Pane::Messages => self.message_lines().len(),
            Pane::Claims => self.visible_claims(now).len(),
            Pane::State => self.visible_keys().len(),
        }
    }

    pub fn selected(&self, pane: Pane) -> usize {
        let rows = self.rows(pane);
        self.selected
            .get(name(pane))
            .copied()
            .unwrap_or(0)
            .min(rows.saturating_sub(1))
    }

    fn select(&mut self, pane: Pane, by: isize) {
        let rows = self.rows(pane) as isize;
        let now = self.selected(pane) as isize;
        let next = (now + by).clamp(0, (rows - 1).max(0));
        self.selected.insert(name(pane), next as usize);
    }

    pub fn key(&mut self, key: KeyEvent) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if let Some(typing) = &mut self.typing {
            match key.code {
                KeyCode::Enter => {
                    let typed = self.typing.take().expect("typing");
                    self.filter = (!typed.text.is_empty()).then_some(typed);
                    self.selected.clear();
                }
                KeyCode::Esc => self.typing = None,
                KeyCode::Backspace => {
                    typing.text.pop();
                }
                KeyCode::Char(c) => typing.text.push(c),
                _ => {}
            }
            return;
        }
        if let Some(detail) = &mut self.detail {
            match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => self.detail = None,
                KeyCode::Down | KeyCode::Char('j') => {
                    detail.scroll = detail.scroll.saturating_add(1)
                }
                KeyCode::Up | KeyCode::Char('k') => detail.scroll = detail.scroll.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => {
                    detail.scroll = detail.scroll.saturating_add(10)
                }
                KeyCode::PageUp => detail.scroll = detail.scroll.saturating_sub(10),
                _ => {}
            }
            return;
        }
        let pane = self.focus();
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Tab | KeyCode::Right => self.focus = Some(pane.step(1)),
            KeyCode::BackTab | KeyCode::Left => self.focus = Some(pane.step(-1)),
            KeyCode::Down | KeyCode::Char('j') => self.select(pane, 1),
            KeyCode::Up | KeyCode::Char('k') => self.select(pane, -1),
            KeyCode::PageDown => self.select(pane, 10),
            KeyCode::PageUp => self.select(pane, -10),
            KeyCode::Home | KeyCode::Char('g') => self.select(pane, isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.select(pane, isize::MAX / 2),
            KeyCode::Char('/') | KeyCode::Char('n') => self.start_filter(FilterKind::Name),
            KeyCode::Char('p') => self.start_filter(FilterKind::Path),
            KeyCode::Esc => {
                self.filter = None;
                self.selected.clear();
            }
            KeyCode::Char('m') => self.focus = Some(Pane::Messages),
            KeyCode::Enter | KeyCode::Char('t') if pane == Pane::Messages => {
                let index = self.selected(Pane::Messages);
                let Some(id) = self.message_lines().get(index).map(|l| l.message.id) else {
                    return;
                };
                let thread = key.code == KeyCode::Char('t');
                let rows = if thread {
                    self.thread(id)
                } else {
                    vec![(id, 0)]
                };
                self.detail = Some(Detail {
                    rows,
                    thread,
                    scroll: 0,
                });
            }
            _ => {}
        }
    }

    fn start_filter(&mut self, kind: FilterKind) {
        self.typing = Some(Filter {
            kind,
            text: String::new(),
        });
    }
}

fn name(pane: Pane) -> &'static str {
    match pane {
        Pane::Agents => "agents",
        Pane::Messages => "messages",
        Pane::Claims => "claims",
        Pane::State => "state",
    }
}

/// `42s`, `7m`, `3h`, `2d`: how long ago, as the view shows it.
pub fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Seconds until [`age`] of `seconds` shows something else.
pub fn age_changes_in(seconds: f64) -> f64 {
    let s = seconds.max(0.0);
    let unit = match s as u64 {
        0..60 => 1.0,
        60..3600 => 60.0,
        3600..86400 => 3600.0,
        _ => 86400.0,
    };
    unit - s % unit
}

/// `12:05` (minutes and seconds) or `1h02m`: the time a claim has left.
pub fn time_left(seconds: f64) -> String {
    let s = seconds.max(0.0).ceil() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64, from: &str, to: &str, reply_to: Option<i64>) -> Message {
        Message {
            id,
            from: from.into(),
            to: to.into(),
            content: format!("m{id}"),
            reply_to,
            ts: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn replies_sit_under_what_they_answer_and_active_threads_come_first() {
        let mut app = App::default();
        app.apply(Snapshot {
            messages: vec![
                message(1, "a", "b", None),
                message(2, "c", "all", None),
                message(3, "b", "a", Some(1)),
                message(4, "a", "b", Some(3)),
            ],
            ..Snapshot::default()
        });
        let lines: Vec<(i64, usize)> = app
            .message_lines()
            .iter()
            .map(|l| (l.message.id, l.depth))
            .collect();
        assert_eq!(lines, vec![(1, 0), (3, 1), (4, 2), (2, 0)]);
        assert_eq!(app.thread(4), vec![(1, 0), (3, 1), (4, 2)]);
    }

    #[test]
    fn ages_and_countdowns_change_when_their_text_does() {
        assert_eq!(age(59.5), "59s");
        assert_eq!(age(61.0), "1m");
        assert!((age_changes_in(61.0) - 59.0).abs() < 1e-9);
        assert!((age_changes_in(10.25) - 0.75).abs() < 1e-9);
        assert_eq!(time_left(65.2), "1:06");
        assert_eq!(time_left(3700.0), "1h01m");
    }

    #[test]
    fn a_name_filter_keeps_what_that_name_did() {
        let mut app = App::default();
        app.apply(Snapshot {
            messages: vec![message(1, "a", "b", None), message(2, "c", "d", None)],
            ..Snapshot::default()
        });
        app.filter = Some(Filter {
            kind: FilterKind::Name,
            text: "c".into(),
        });
        let ids: Vec<i64> = app.message_lines().iter().map(|l| l.message.id).collect();
        assert_eq!(ids, vec![2]);
    }
}
