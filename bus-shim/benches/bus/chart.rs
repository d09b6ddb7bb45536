//! The two charts of BENCHMARKS.md, as plain SVG text: the wake-latency distribution (a CDF on
//! a log scale) and daemon throughput by number of clients.

use std::fmt::Write as _;

const W: f64 = 720.0;
const H: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 5] = ["#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd"];

fn open(title: &str, h: f64) -> String {
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" \
         viewBox=\"0 0 {W} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>",
        W / 2.0,
        escape(title)
    );
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cumulative distribution of each series of latencies (ms), log-scaled x axis.
pub fn wake_cdf(series: &[(String, Vec<f64>)]) -> String {
    // The legend goes under the plot, one line per series.
    let legend = 18.0 * series.len() as f64;
    let mut s = open(
        "Wake latency: send → waiting reader has the message (CDF)",
        H + legend,
    );
    let all = series.iter().flat_map(|(_, v)| v.iter().copied());
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // Start a decade below the 1 ms target at least, so that its line is inside the plot.
    let lo_exp = (lo.max(1e-3).log10().floor() as i32).min(-1);
    let hi_exp = (hi.max(lo * 10.0).log10().ceil() as i32).max(lo_exp + 1);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |ms: f64| {
        let t = (ms.max(1e-3).log10() - lo_exp as f64) / (hi_exp - lo_exp) as f64;
        LEFT + t.clamp(0.0, 1.0) * pw
    };
    let y = |frac: f64| TOP + (1.0 - frac) * ph;
    for e in lo_exp..=hi_exp {
        let v = 10f64.powi(e);
        let label = if e < 0 {
            format!("{v}")
        } else {
            format!("{v:.0}")
        };
        let _ = writeln!(
            s,
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{label}</text>",
            x(v),
            TOP + ph,
            TOP + ph + 16.0
        );
    }
    for pct in [0, 25, 50, 75, 100] {
        let yy = y(pct as f64 / 100.0);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{pct} %</text>",
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">milliseconds (log scale)</text>",
        LEFT + pw / 2.0,
        H - 18.0
    );
    for (i, (label, values)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let n = values.len().max(1) as f64;
        let mut points = String::new();
        for (k, v) in values.iter().enumerate() {
            let _ = write!(
                points,
                "{:.1},{:.1} {:.1},{:.1} ",
                x(*v),
                y(k as f64 / n),
                x(*v),
                y((k + 1) as f64 / n)
            );
        }
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            points.trim_end()
        );
        let ly = H + 18.0 * i as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"14\" height=\"4\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{} ({} samples)</text>",
            LEFT,
            ly - 4.0,
            LEFT + 20.0,
            ly,
            escape(label),
            values.len()
        );
    }
    for (ms, what) in [(1.0, "target p50 ≤ 1 ms"), (5.0, "target p99 ≤ 5 ms")] {
        let _ = writeln!(
            s,
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#888\" \
             stroke-dasharray=\"4 4\"/><text x=\"{2:.1}\" y=\"{3:.1}\" fill=\"#555\" \
             transform=\"rotate(-90 {2:.1} {3:.1})\" text-anchor=\"end\">{what}</text>",
            x(ms),
            TOP + ph,
            x(ms) - 4.0,
            TOP + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Bars of sends per second by number of clients, with the target as a dashed line.
pub fn throughput(points: &[(usize, f64)], target: f64) -> String {
    let mut s = open(
        "busd durable sends per second, by concurrent clients (no MCP)",
        H,
    );
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let top = points.iter().map(|p| p.1).fold(target, f64::max).max(1.0) * 1.15;
    let step = nice_step(top / 5.0);
    let y = |v: f64| TOP + (1.0 - v / top) * ph;
    let mut tick = 0.0;
    while tick <= top {
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{4}</text>",
            y(tick),
            LEFT + pw,
            LEFT - 6.0,
            y(tick) + 4.0,
            crate::report::thousands(tick)
        );
        tick += step;
    }
    let slot = pw / points.len().max(1) as f64;
    for (i, (clients, rate)) in points.iter().enumerate() {
        let x0 = LEFT + slot * i as f64 + slot * 0.2;
        let _ = writeln!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{clients}</text>",
            y(*rate),
            slot * 0.6,
            TOP + ph - y(*rate),
            COLORS[0],
            x0 + slot * 0.3,
            y(*rate) - 5.0,
            crate::report::thousands(*rate),
            x0 + slot * 0.3,
            TOP + ph + 16.0
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"{2}\" \
         stroke-dasharray=\"6 4\"/><text x=\"{1:.1}\" y=\"{3:.1}\" text-anchor=\"end\" \
         fill=\"{2}\">target ≥ {4} /s with 64 clients</text>",
        y(target),
        LEFT + pw,
        COLORS[2],
        y(target) - 6.0,
        crate::report::thousands(target)
    );
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">concurrent clients (one send in \
         flight each)</text>",
        LEFT + pw / 2.0,
        H - 18.0
    );
    s.push_str("</svg>\n");
    s
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}
