//! Time as deskready writes it: RFC 3339 in UTC, to the second.

/// `2026-11-24T04:50:00Z` for Unix seconds `secs`.
pub fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs.to_string())
}

/// Unix seconds of an RFC 3339 time written by [`rfc3339`].
pub fn parse(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}
