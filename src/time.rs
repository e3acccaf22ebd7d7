//! Time as deskready writes it (RFC 3339 in UTC, to the second, in the store and JSON) and
//! as a person reads it (local time, spans such as `3h 58m`).

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

/// An RFC 3339 time as a person reads it: in the local time zone, to the second
/// (`2026-11-24 05:50:00`). Text that is not such a time is returned as it is.
pub fn local(rfc: &str) -> String {
    local_fmt(rfc, "%Y-%m-%d %H:%M:%S")
}

/// An RFC 3339 time in the local time zone, to the minute (`2026-11-24 05:50`).
pub fn local_at(rfc: &str) -> String {
    local_fmt(rfc, "%Y-%m-%d %H:%M")
}

fn local_fmt(rfc: &str, fmt: &str) -> String {
    match rfc.parse::<jiff::Timestamp>() {
        Ok(t) => t
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime(fmt)
            .to_string(),
        Err(_) => rfc.to_string(),
    }
}

/// A duration in seconds as a person reads it, to two units: `45s`, `3m 20s`, `3h 58m`,
/// `2d 4h`.
pub fn span(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_two_units() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(200), "3m 20s");
        assert_eq!(span(3 * 3600 + 58 * 60 + 10), "3h 58m");
        assert_eq!(span(2 * 86_400 + 4 * 3600), "2d 4h");
    }

    #[test]
    fn local_time_keeps_text_that_is_not_a_time() {
        assert_eq!(local("never"), "never");
        assert_eq!(
            local("2026-11-24T04:50:00Z").len(),
            "2026-11-24 04:50:00".len()
        );
    }
}
