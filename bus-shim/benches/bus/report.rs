//! Figures, their targets and the side-by-side ratio, printed as a table (and as Markdown).

use std::fmt::Write as _;

pub use crate::figure::*;

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    pub figures: Vec<Figure>,
    /// Errors and correctness failures of claude-bus: any of them fails the run.
    pub failures: Vec<String>,
    /// Notes printed under the table (how something was measured, what was skipped).
    pub notes: Vec<String>,
    /// Wake latencies for the chart: (series label, sorted milliseconds).
    pub wake_series: Vec<(String, Vec<f64>)>,
    /// Daemon throughput for the chart: (clients, sends per second).
    pub throughput: Vec<(usize, f64)>,
}

impl Report {
    pub fn add(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    pub fn fail(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("FAILED: {what}");
        self.failures.push(what);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The figures as rows of text cells: figure, target, ours, met, theirs, ratio.
    fn rows(&self, compare: bool) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut section = "";
        for f in &self.figures {
            let name = if f.section != section {
                section = f.section;
                format!("{}: {}", f.section, f.name)
            } else {
                format!("  {}", f.name)
            };
            let target = f.target.map_or("—".to_owned(), |t| {
                let sign = if t.better == Better::Lower {
                    "≤"
                } else {
                    "≥"
                };
                format!("{sign} {}", f.unit.show(t.bound))
            });
            let ours = show(&f.ours, f.unit);
            let met = match (&f.ours, f.target) {
                (Value::Num(v), Some(t)) if t.met(*v) => "yes",
                (Value::Num(_), Some(_)) => "NO",
                _ => "",
            };
            let mut row = vec![name, target, ours, met.to_owned()];
            if compare {
                let theirs = f
                    .theirs
                    .as_ref()
                    .map_or("—".to_owned(), |v| show(v, f.unit));
                row.push(theirs);
                row.push(ratio(f));
            }
            rows.push(row);
        }
        rows
    }

    fn header(compare_label: Option<&str>) -> Vec<String> {
        let mut h = vec!["figure", "target", "claude-bus", "met"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        if let Some(label) = compare_label {
            h.push(label.to_owned());
            h.push("ratio".to_owned());
        }
        h
    }

    /// The table for a terminal.
    pub fn text(&self, compare_label: Option<&str>) -> String {
        let mut rows = vec![Self::header(compare_label)];
        rows.extend(self.rows(compare_label.is_some()));
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for (n, row) in rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    let pad = w - c.chars().count();
                    if i == 0 {
                        format!("{c}{}", " ".repeat(pad))
                    } else {
                        format!("{}{c}", " ".repeat(pad))
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
            if n == 0 {
                let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
                let _ = writeln!(out, "{}", "-".repeat(total));
            }
        }
        self.append_notes(&mut out);
        out
    }

    /// The table in Markdown.
    pub fn markdown(&self, compare_label: Option<&str>) -> String {
        let header = Self::header(compare_label);
        let mut out = format!("| {} |\n", header.join(" | "));
        let aligns: Vec<&str> = (0..header.len())
            .map(|i| if i == 0 { "---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "| {} |", aligns.join(" | "));
        for row in self.rows(compare_label.is_some()) {
            let row: Vec<String> = row
                .into_iter()
                .map(|c| c.trim_start().replace('|', "\\|"))
                .collect();
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out.push('\n');
        self.append_notes(&mut out);
        out
    }

    fn append_notes(&self, out: &mut String) {
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
}

fn show(v: &Value, unit: Unit) -> String {
    match v {
        Value::Num(v) => unit.show(*v),
        Value::Missing(why) => why.clone(),
    }
}

/// How many times better ours is than theirs.
fn ratio(f: &Figure) -> String {
    let (Value::Num(ours), Some(Value::Num(theirs))) = (&f.ours, &f.theirs) else {
        return String::new();
    };
    let r = match f.better {
        Better::Lower if *ours > 0.0 => theirs / ours,
        Better::Higher if *theirs > 0.0 => ours / theirs,
        _ => return String::new(),
    };
    if r >= 10.0 {
        format!("×{r:.0}")
    } else {
        format!("×{r:.1}")
    }
}

/// The outcome of a measurement of claude-bus: an error fails the run.
pub fn ours<M>(report: &mut Report, what: &str, r: anyhow::Result<M>) -> Option<M> {
    match r {
        Ok(m) => Some(m),
        Err(e) => {
            report.fail(format!("{what}: {e:#}"));
            None
        }
    }
}
