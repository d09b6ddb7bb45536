//! The password file libpq reads when the URL has no password: `PGPASSFILE`, else
//! `~/.pgpass`; one `host:port:database:user:password` per line, `*` matching anything, `\`
//! escaping `:` and itself, the first matching line winning. As libpq does, a file that others
//! may read is ignored, with a warning.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// What a password is looked up for.
pub struct Wanted<'a> {
    pub host: &'a str,
    pub port: u16,
    pub database: &'a str,
    pub user: &'a str,
}

/// The password file to read, if any.
pub fn file() -> Option<PathBuf> {
    match std::env::var_os("PGPASSFILE").filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => directories::BaseDirs::new().map(|d| d.home_dir().join(".pgpass")),
    }
}

/// The password `path` holds for `wanted`; `None` when there is no such file, no matching
/// line, or the file is open to others.
pub fn lookup(path: &Path, wanted: &Wanted<'_>) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            "the password file is readable by others and is ignored: chmod 0600 it"
        );
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    find(&text, wanted)
}

/// The password of the first line of `text` that matches `wanted`.
fn find(text: &str, wanted: &Wanted<'_>) -> Option<String> {
    let port = wanted.port.to_string();
    let want = [wanted.host, port.as_str(), wanted.database, wanted.user];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split(line)?;
            let matches = fields[..4]
                .iter()
                .zip(want)
                .all(|(field, want)| field == "*" || field == want);
            matches.then(|| fields[4].clone())
        })
}

/// The five fields of a line, unescaped; `None` for a line with fewer. The password is the
/// rest of the line.
fn split(line: &str) -> Option<[String; 5]> {
    let mut fields: Vec<String> = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut()?.push(chars.next().unwrap_or('\\')),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    fields.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted<'a>(host: &'a str, database: &'a str, user: &'a str) -> Wanted<'a> {
        Wanted {
            host,
            port: 5432,
            database,
            user,
        }
    }

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# a comment\n\
                    db.example.com:5432:team_bus:bus:s3cret\n\
                    *:*:*:bus:fallback\n\
                    *:5432:*:ops:with\\:colon\\\\and:more\n\
                    short:line\n";
        let find = |w: Wanted<'_>| find(text, &w);
        assert_eq!(
            find(wanted("db.example.com", "team_bus", "bus")).as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            find(wanted("other", "team_bus", "bus")).as_deref(),
            Some("fallback")
        );
        assert_eq!(
            find(wanted("x", "y", "ops")).as_deref(),
            Some("with:colon\\and:more")
        );
        assert_eq!(find(wanted("x", "y", "nobody")), None);
    }

    #[test]
    fn a_file_others_can_read_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:pw\n").unwrap();
        let w = wanted("h", "d", "u");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(lookup(&path, &w), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&path, &w).as_deref(), Some("pw"));
        assert_eq!(lookup(&dir.path().join("missing"), &w), None);
    }
}
