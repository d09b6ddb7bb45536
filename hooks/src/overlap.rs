//! Whether a claimed path falls on the paths a session owns.
//!
//! The same rule as busd's `agents.overlaps` (SPEC.md): two entries intersect when they are
//! equal, or when either, as a glob, matches the other taken as a literal path. Globs follow
//! `globset` with a literal separator: `*` stays within one folder, `**` crosses folders.

use globset::GlobBuilder;

/// Whether `path` intersects any of the `globs`.
pub fn any(globs: &[String], path: &str) -> bool {
    globs.iter().any(|g| intersects(g, path))
}

fn intersects(a: &str, b: &str) -> bool {
    let matches = |glob: &str, text: &str| {
        GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .is_ok_and(|g| g.compile_matcher().is_match(text))
    };
    a == b || matches(a, b) || matches(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_paths() {
        let owns = vec!["src/api/**".to_string(), "docs/*.md".to_string()];
        assert!(any(&owns, "src/api/auth/login.rs"));
        assert!(any(&owns, "docs/readme.md"));
        assert!(!any(&owns, "docs/api/readme.md"), "* stays in one folder");
        assert!(
            any(&owns, "src/api/*.rs"),
            "a claimed glob inside owned paths"
        );
        assert!(!any(&owns, "web/index.ts"));
        assert!(!any(&[], "src/api/x.rs"));
    }
}
