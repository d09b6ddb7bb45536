//! How results are shown: JSON for scripts, small aligned tables and plain lines for people.

use std::fmt::Write as _;

use proto::Message;
use serde::Serialize;

/// A line on stdout, like `println!`, but a closed stdout (`bus tail | head -1`) is an
/// `io::Error` of kind `BrokenPipe` for the caller to return, never a panic. `main` ends such
/// a run quietly.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}
pub(crate) use say;

/// Whether an error is stdout having been closed by its reader.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// One compact JSON document on its own line.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    say!("{}", serde_json::to_string(value)?)?;
    Ok(())
}

/// A message as a person reads it: a header line, then the content indented.
pub fn message(m: &Message) -> String {
    let mut out = format!("#{} from {} to {} at {}", m.id, m.from, m.to, m.ts);
    if let Some(r) = m.reply_to {
        let _ = write!(out, " (reply to #{r})");
    }
    for line in m.content.lines() {
        let _ = write!(out, "\n  {line}");
    }
    out
}

/// The table of `rows`, or `empty` when there are none.
pub fn listing(empty: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        empty.to_owned()
    } else {
        table(header, rows)
    }
}

/// Rows under a header, each column as wide as its widest cell (cells cut at 48 characters).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cut = |s: &str| -> String {
        if s.chars().count() > 48 {
            format!("{}…", s.chars().take(47).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cut(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                let _ = write!(s, "{cell:<w$}  ");
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A duration for people: `42s`, `3m 5s`, `2h 4m`, `3d 2h`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// `1 message`, `2 messages`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The argument itself, or stdin when it is `-` (without the final newline).
pub fn arg_or_stdin(arg: String) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg);
    }
    let mut text = std::io::read_to_string(std::io::stdin()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            anyhow::anyhow!(
                "stdin is not UTF-8 text: the bus carries text, so convert it first \
                 (iconv -t UTF-8) or encode binary data (base64)"
            )
        } else {
            anyhow::anyhow!("cannot read stdin: {e}")
        }
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0.2), "0s");
        assert_eq!(duration(185.0), "3m 5s");
        assert_eq!(duration(7440.0), "2h 4m");
        assert_eq!(duration(266400.0), "3d 2h");
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["NAME", "ROLE"],
            &[
                vec!["api".into(), "backend".into()],
                vec!["frontend".into(), "".into()],
            ],
        );
        assert_eq!(t, "NAME      ROLE\napi       backend\nfrontend");
    }
}
