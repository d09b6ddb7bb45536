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

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        assert_eq!(super::rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_700_000_000.5), "2023-11-14T22:13:20.500Z");
    }
}
