//! One figure of the table: what was measured, in which unit, against which target, and how
//! each measurement becomes a cell.

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Better {
    Lower,
    Higher,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Ms,
    Us,
    PerSec,
    Mb,
    Count,
    /// Percent of one core.
    Core,
}

impl Unit {
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Ms if v < 10.0 => format!("{v:.3} ms"),
            Unit::Ms => format!("{v:.1} ms"),
            Unit::Us => format!("{v:.1} µs"),
            Unit::PerSec => format!("{} /s", thousands(v)),
            Unit::Mb => format!("{v:.1} MB"),
            Unit::Count => thousands(v),
            Unit::Core => format!("{v:.1} %"),
        }
    }
}

/// A bound a figure should keep.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub bound: f64,
    pub better: Better,
}

impl Target {
    pub fn at_most(bound: f64) -> Option<Target> {
        Some(Target {
            bound,
            better: Better::Lower,
        })
    }

    pub fn at_least(bound: f64) -> Option<Target> {
        Some(Target {
            bound,
            better: Better::Higher,
        })
    }

    pub fn met(&self, v: f64) -> bool {
        match self.better {
            Better::Lower => v <= self.bound,
            Better::Higher => v >= self.bound,
        }
    }
}

/// A measured value, or why there is none.
#[derive(Debug, Clone)]
pub enum Value {
    Num(f64),
    Missing(String),
}

impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Value {
        match v {
            Some(v) => Value::Num(v),
            None => Value::Missing("no samples".into()),
        }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Num(v)
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Figure {
    pub section: &'static str,
    pub name: String,
    pub unit: Unit,
    pub better: Better,
    pub target: Option<Target>,
    pub ours: Value,
    /// The compared server's figure, when there is a comparison.
    pub theirs: Option<Value>,
}

impl Figure {
    pub fn new(section: &'static str, name: impl Into<String>, unit: Unit, better: Better) -> Self {
        Figure {
            section,
            name: name.into(),
            unit,
            better,
            target: None,
            ours: Value::Missing("not run".into()),
            theirs: None,
        }
    }

    /// A latency in milliseconds (lower is better).
    pub fn ms(section: &'static str, name: impl Into<String>) -> Self {
        Figure::new(section, name, Unit::Ms, Better::Lower)
    }

    pub fn target(mut self, target: Option<Target>) -> Self {
        self.target = target;
        self
    }

    pub fn ours(mut self, v: impl Into<Value>) -> Self {
        self.ours = v.into();
        self
    }

    pub fn theirs(mut self, v: Option<Value>) -> Self {
        self.theirs = v;
        self
    }
}

/// One figure of the compared server, from its measurement (an error shows in the cell).
pub fn theirs<M>(r: &Option<anyhow::Result<M>>, f: impl Fn(&M) -> Value) -> Option<Value> {
    match r {
        None => None,
        Some(Ok(m)) => Some(f(m)),
        Some(Err(e)) => Some(Value::Missing(format!("error: {}", short(e)))),
    }
}

/// One figure of ours, from an optional measurement.
pub fn value<M>(m: &Option<M>, f: impl Fn(&M) -> Value) -> Value {
    match m {
        Some(m) => f(m),
        None => Value::Missing("error".into()),
    }
}

fn short(e: &anyhow::Error) -> String {
    let s = format!("{e:#}");
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// 12345.6 → "12,346".
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
