//! Footprint overlaps: which agents may be touching the same files. One rule, shared by busd
//! (`agents.overlaps`) and the `bus` hooks (claims on a session's owned paths).
//!
//! An agent's footprint is its `owns` globs plus the paths of its live claims. Two entries
//! intersect when they are equal, or when either, as a glob, matches the other taken as a
//! literal path. Globs follow `globset` with a literal separator: `*` stays within one folder,
//! `**` crosses folders.

use globset::{GlobBuilder, GlobMatcher};

/// One footprint entry, compiled once.
struct Entry {
    text: String,
    glob: Option<GlobMatcher>,
}

impl Entry {
    fn new(text: &str) -> Entry {
        let glob = GlobBuilder::new(text)
            .literal_separator(true)
            .build()
            .ok()
            .map(|g| g.compile_matcher());
        Entry {
            text: text.to_owned(),
            glob,
        }
    }

    fn intersects(&self, other: &Entry) -> bool {
        self.text == other.text
            || self.glob.as_ref().is_some_and(|g| g.is_match(&other.text))
            || other.glob.as_ref().is_some_and(|g| g.is_match(&self.text))
    }
}

/// Whether `path` intersects any of `globs`.
pub fn any(globs: &[String], path: &str) -> bool {
    let path = Entry::new(path);
    globs.iter().any(|g| Entry::new(g).intersects(&path))
}

/// For each footprint, the indices of the other footprints it intersects.
pub fn overlaps(footprints: &[Vec<String>]) -> Vec<Vec<usize>> {
    let compiled: Vec<Vec<Entry>> = footprints
        .iter()
        .map(|f| f.iter().map(|e| Entry::new(e)).collect())
        .collect();
    let mut result = vec![Vec::new(); footprints.len()];
    for i in 0..compiled.len() {
        for j in (i + 1)..compiled.len() {
            let hit = compiled[i]
                .iter()
                .any(|a| compiled[j].iter().any(|b| a.intersects(b)));
            if hit {
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
}
