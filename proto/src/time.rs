//! Times: stored and carried as Unix seconds (`f64`), shown as RFC 3339 UTC strings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `2026-11-25T13:07:59.123Z` for a Unix time in seconds.
pub fn rfc3339(unix_seconds: f64) -> String {
    let t = if unix_seconds.is_finite() && unix_seconds > 0.0 {
        UNIX_EPOCH + Duration::from_secs_f64(unix_seconds)
    } else {
        UNIX_EPOCH
    };
    humantime::format_rfc3339_millis(t).to_string()
}

/// The Unix time in seconds of an RFC 3339 string as [`rfc3339`] writes it; `None` for
/// anything else.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let t = humantime::parse_rfc3339(s).ok()?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_what_it_formats() {
        assert_eq!(
            super::parse_rfc3339("2023-11-14T22:13:20.500Z"),
            Some(1_700_000_000.5)
        );
        assert_eq!(super::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn formats_utc() {
        assert_eq!(super::rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_700_000_000.5), "2023-11-14T22:13:20.500Z");
    }
}
