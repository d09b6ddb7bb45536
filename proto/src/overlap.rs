//! Footprint overlaps: which agents may be touching the same files. One rule, shared by busd
//! (`agents.overlaps`) and the `bus` hooks (claims on a session's owned paths).
//!
//! An agent's footprint is its `owns` globs plus the paths of its live claims. Two entries
//! intersect when they are equal, or when either, as a glob, matches the other taken as a
//! literal path. Globs follow `globset` with a literal separator: `*` stays within one folder,
//! `**` crosses folders.
//!
//! The work is bounded, because the limits allow footprints that a glob engine cannot compare
//! quickly (8 agents with 256 globs of 4,000 characters each are 1.8 million pairs, and a
//! regular expression of 4,000 characters is slow to build and to run). So:
//! - an entry without glob characters is a literal, and two literals intersect only when equal;
//! - a glob can only match a path that starts with its literal prefix and ends with its literal
//!   suffix, so most pairs are decided by two string comparisons;
//! - a glob is compiled only when such a pair needs it, and at most once per computation;
//! - a computation has a time budget; pairs still undecided when it runs out count as
//!   overlapping. An overlap is a hint to coordinate, so a false alarm on pathological globs is
//!   the safe side; a missed overlap is not.

use std::cell::OnceCell;
use std::time::{Duration, Instant};

use globset::{GlobBuilder, GlobMatcher};

/// How long one computation may take before the rest of its pairs count as overlapping.
pub const BUDGET: Duration = Duration::from_millis(200);

/// The characters that make an entry a glob (`\` escapes the next one).
const GLOB_CHARS: &[char] = &['*', '?', '[', ']', '{', '}', '\\'];

/// One footprint entry: its text, and what is known of it as a glob.
struct Entry {
    text: String,
    glob: Option<Glob>,
}

/// An entry with glob characters.
struct Glob {
    /// Literal text every match starts with, and ends with.
    prefix: String,
    suffix: String,
    /// Compiled on first use; `None` inside when the glob does not parse (it then only
    /// matches itself, by equality).
    matcher: OnceCell<Option<GlobMatcher>>,
}

impl Entry {
    fn new(text: &str) -> Entry {
        let glob = text.find(GLOB_CHARS).map(|first| {
            let last = text.rfind(GLOB_CHARS).unwrap_or(first);
            // `a/**/b` matches `a/b`: a separator beside `**` may match nothing.
            let prefix = text[..first].strip_suffix('/').unwrap_or(&text[..first]);
            let tail = &text[last + 1..];
            let suffix = tail.strip_prefix('/').unwrap_or(tail);
            Glob {
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
                matcher: OnceCell::new(),
            }
        });
        Entry {
            text: text.to_owned(),
            glob,
        }
    }

    /// Whether this entry, as a glob, matches `path` taken literally; `None` when finding out
    /// would overrun `deadline`.
    fn matches(&self, path: &str, deadline: Instant) -> Option<bool> {
        let Some(glob) = &self.glob else {
            return Some(false);
        };
        let possible = path.len() >= glob.prefix.len() + glob.suffix.len()
            && path.starts_with(&glob.prefix)
            && path.ends_with(&glob.suffix);
        if !possible {
            return Some(false);
        }
        if Instant::now() >= deadline {
            return None;
        }
        let matcher = glob.matcher.get_or_init(|| {
            GlobBuilder::new(&self.text)
                .literal_separator(true)
                .build()
                .ok()
                .map(|g| g.compile_matcher())
        });
        Some(matcher.as_ref().is_some_and(|m| m.is_match(path)))
    }

    fn intersects(&self, other: &Entry, deadline: Instant) -> Option<bool> {
        if self.text == other.text {
            return Some(true);
        }
        match self.matches(&other.text, deadline) {
            Some(false) => other.matches(&self.text, deadline),
            decided => decided,
        }
    }
}

/// One agent's footprint, prepared for comparisons.
pub struct Footprint {
    entries: Vec<Entry>,
}

impl Footprint {
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Footprint {
        Footprint {
            entries: entries.iter().map(|e| Entry::new(e.as_ref())).collect(),
        }
    }

    /// Whether any entry of one intersects any entry of the other; undecided by `deadline`
    /// counts as intersecting.
    fn intersects(&self, other: &Footprint, deadline: Instant) -> bool {
        let mut undecided = false;
        for a in &self.entries {
            for b in &other.entries {
                match a.intersects(b, deadline) {
                    Some(true) => return true,
                    Some(false) => {}
                    None => undecided = true,
                }
            }
        }
        undecided
    }

    /// Whether `path` intersects this footprint; undecided by `deadline` counts as yes. One
    /// deadline for a series of paths bounds the whole series.
    pub fn touches(&self, path: &str, deadline: Instant) -> bool {
        self.intersects(&Footprint::new(&[path]), deadline)
    }
}

/// Whether `path` intersects any of `globs`, within [`BUDGET`].
pub fn any(globs: &[String], path: &str) -> bool {
    Footprint::new(globs).touches(path, Instant::now() + BUDGET)
}

/// For each footprint, the indices of the other footprints it intersects, within [`BUDGET`].
pub fn overlaps(footprints: &[Vec<String>]) -> Vec<Vec<usize>> {
    overlaps_within(footprints, BUDGET)
}

/// [`overlaps`] with a given time budget.
pub fn overlaps_within(footprints: &[Vec<String>], budget: Duration) -> Vec<Vec<usize>> {
    let deadline = Instant::now() + budget;
    let compiled: Vec<Footprint> = footprints.iter().map(|f| Footprint::new(f)).collect();
    let mut result = vec![Vec::new(); footprints.len()];
    for i in 0..compiled.len() {
        for j in (i + 1)..compiled.len() {
            if compiled[i].intersects(&compiled[j], deadline) {
                result[i].push(j);
                result[j].push(i);
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &[&str], b: &[&str]) -> bool {
        let f = vec![
            a.iter().map(|s| s.to_string()).collect(),
            b.iter().map(|s| s.to_string()).collect(),
        ];
        !overlaps(&f)[0].is_empty()
    }

    #[test]
    fn globs_and_paths() {
        assert!(pair(&["src/api/**"], &["src/api/auth/login.rs"]));
        assert!(pair(&["src/api/login.rs"], &["src/*/login.rs"]));
        assert!(pair(&["src/api/**"], &["src/api/**"]));
        assert!(
            !pair(&["src/*.rs"], &["src/api/login.rs"]),
            "* stays in one folder"
        );
        assert!(!pair(&["src/api/**"], &["src/web/**"]));
        assert!(!pair(&[], &["src/web/**"]));
        assert!(
            pair(&["a[b"], &["a[b"]),
            "an invalid glob still matches itself"
        );
    }

    #[test]
    fn owned_paths() {
        let owns = vec!["src/api/**".to_string(), "docs/*.md".to_string()];
        assert!(any(&owns, "src/api/auth/login.rs"));
        assert!(!any(&owns, "docs/api/readme.md"), "* stays in one folder");
        assert!(
            any(&owns, "src/api/*.rs"),
            "a claimed glob inside owned paths"
        );
        assert!(!any(&[], "src/api/x.rs"));
    }

    #[test]
    fn symmetric_indices() {
        let f = vec![
            vec!["x/**".to_string()],
            vec!["y".to_string()],
            vec!["x/1".to_string()],
        ];
        assert_eq!(overlaps(&f), vec![vec![2], vec![], vec![0]]);
    }

    /// The literal prefix and suffix never rule out a real match, `**` beside a separator
    /// included: every pair globset matches is still an overlap.
    #[test]
    fn prefix_and_suffix_agree_with_globset() {
        let cases = [
            ("a/**/b", "a/b"),
            ("**/x", "x"),
            ("a/**", "a/b/c"),
            ("{a,b}c", "ac"),
            ("a\\*b", "a*b"),
            ("src/[ab]/x.rs", "src/a/x.rs"),
            ("src/?/x.rs", "src/a/x.rs"),
            ("**", "anything/at/all"),
            ("a]", "a]"),
            ("x/**/y/**/z", "x/y/z"),
        ];
        for (glob, path) in cases {
            let real = GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .unwrap()
                .compile_matcher()
                .is_match(path);
            assert!(real, "{glob} matches {path} in globset");
            assert!(pair(&[glob], &[path]), "{glob} overlaps {path}");
        }
        assert!(!pair(&["a/**/b"], &["a/c"]));
        assert!(!pair(&["**/x"], &["y"]));
    }

    /// The sizes the limits allow: 8 agents with 256 globs of ~4,000 characters. Disjoint
    /// prefixes are decided without compiling anything; globs that all pass the prefix test
    /// end within the budget, the undecided pairs counted as overlaps.
    #[test]
    fn footprints_at_the_limits_are_bounded() {
        let disjoint: Vec<Vec<String>> = (0..8)
            .map(|a| {
                (0..256)
                    .map(|g| format!("src/{a}/{g}/{}", "*x".repeat(1995)))
                    .collect()
            })
            .collect();
        let started = Instant::now();
        let none = overlaps(&disjoint);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(none.iter().all(Vec::is_empty), "{none:?}");

        let alike: Vec<Vec<String>> = (0..8)
            .map(|a| {
                (0..256)
                    .map(|g| format!("**/{a}{g}{}", "*x".repeat(1995)))
                    .collect()
            })
            .collect();
        let started = Instant::now();
        let all = overlaps_within(&alike, Duration::from_millis(100));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(
            all.iter().all(|o| o.len() == 7),
            "undecided counts as overlapping"
        );
    }
}
