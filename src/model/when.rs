//! When a scheduled job is due, as a CSP writes it: `now`, `22:00` (the next 22:00),
//! `sat 22:00` (the next Saturday at 22:00; `sat,sun 22:00` the next of either) or a full
//! `2026-11-28 22:00`, in a named time zone. The next time is always strictly after "now"
//! (a `sat 22:00` written on a Saturday at 22:30 is next week's), except `now` itself.
//!
//! Across a change of the clocks a local time is taken as the law takes it (jiff's
//! "compatible" rule): a time that does not exist (skipped forward in spring) is moved
//! forward by the length of the gap (01:30 becomes 02:30), a time that happens twice (the
//! autumn hour) is the first of the two.
//!
//! Must not: read the clock itself (callers pass "now"), know about stores or commands.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;

use super::window::{DAYS, weekday};

/// A written time that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhenError {
    #[error(
        "`{0}` is not a time: expected `now`, `HH:MM` (the next 22:00), `DAY HH:MM` (the next sat 22:00; days {days}) or `YYYY-MM-DD HH:MM`",
        days = DAYS.join(", ")
    )]
    Form(String),
    #[error("unknown day `{day}` in `{written}`; allowed: {}", DAYS.join(", "))]
    Day { written: String, day: String },
    #[error("`{0}` is not a time of day; expected HH:MM such as 22:00")]
    TimeOfDay(String),
    #[error("`{0}` is not a date; expected YYYY-MM-DD such as 2026-11-28")]
    Date(String),
    #[error("`{written}` repeats only as `HH:MM` (daily) or `DAY HH:MM` (weekly)")]
    NotRecurring { written: String },
    #[error("unknown time zone `{0}`; expected an IANA name such as Europe/London or UTC")]
    TimeZone(String),
}

/// A written time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Due at once.
    Now,
    /// One moment, in the given zone.
    At(DateTime),
    /// The next of these days at this time (every day when `days` is empty).
    Days { days: Vec<Weekday>, time: Time },
}

impl When {
    /// Reads `now`, `HH:MM`, `DAY[,DAY…] HH:MM` or `YYYY-MM-DD HH:MM`.
    pub fn parse(written: &str) -> Result<When, WhenError> {
        let s = written.trim();
        if s.eq_ignore_ascii_case("now") {
            return Ok(When::Now);
        }
        let words: Vec<&str> = s.split_whitespace().collect();
        match words.as_slice() {
            [.., t] if !t.contains(':') => Err(WhenError::Form(s.to_string())),
            [t] => Ok(When::Days {
                days: Vec::new(),
                time: time_of_day(t)?,
            }),
            [d, t] if d.len() == 10 && d.as_bytes()[4] == b'-' => {
                let date: Date = d.parse().map_err(|_| WhenError::Date(d.to_string()))?;
                Ok(When::At(date.to_datetime(time_of_day(t)?)))
            }
            [d, t] => {
                let mut days = Vec::new();
                for day in d.split(',').filter(|x| !x.is_empty()) {
                    let w = weekday(day).ok_or_else(|| WhenError::Day {
                        written: s.to_string(),
                        day: day.to_string(),
                    })?;
                    if !days.contains(&w) {
                        days.push(w);
                    }
                }
                if days.is_empty() {
                    return Err(WhenError::Form(s.to_string()));
                }
                Ok(When::Days {
                    days,
                    time: time_of_day(t)?,
                })
            }
            _ => Err(WhenError::Form(s.to_string())),
        }
    }

    /// Reads a time that repeats (`--every`): `HH:MM` daily or `DAY HH:MM` weekly.
    pub fn parse_recurring(written: &str) -> Result<When, WhenError> {
        match When::parse(written)? {
            w @ When::Days { .. } => Ok(w),
            _ => Err(WhenError::NotRecurring {
                written: written.trim().to_string(),
            }),
        }
    }

    /// When it is next due after `now` in zone `tz`: `now` itself for [`When::Now`], the
    /// moment for [`When::At`] (even when past: the caller judges), else the first of its
    /// days whose time is strictly after `now`.
    pub fn next_after(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match self {
            When::Now => Some(now),
            When::At(dt) => dt.to_zoned(tz.clone()).ok().map(|z| z.timestamp()),
            When::Days { days, time } => {
                let today = now.to_zoned(tz.clone()).date();
                (0..=8)
                    .filter_map(|i| today.checked_add(jiff::Span::new().days(i)).ok())
                    .filter(|d| days.is_empty() || days.contains(&d.weekday()))
                    .filter_map(|d| d.to_datetime(*time).to_zoned(tz.clone()).ok())
                    .map(|z| z.timestamp())
                    .find(|t| *t > now)
            }
        }
    }
}

/// The time zone named `name` (IANA), or the error that says what is expected.
pub fn time_zone(name: &str) -> Result<TimeZone, WhenError> {
    TimeZone::get(name).map_err(|_| WhenError::TimeZone(name.to_string()))
}

fn time_of_day(t: &str) -> Result<Time, WhenError> {
    let ok = t.len() == 5 && t.as_bytes()[2] == b':';
    ok.then(|| t.parse::<Time>().ok())
        .flatten()
        .ok_or_else(|| WhenError::TimeOfDay(t.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> TimeZone {
        time_zone("Europe/London").unwrap()
    }

    /// `s` as a London local time.
    fn at(s: &str) -> Timestamp {
        s.parse::<DateTime>()
            .unwrap()
            .to_zoned(london())
            .unwrap()
            .timestamp()
    }

    fn next(written: &str, now: &str) -> String {
        let t = When::parse(written)
            .unwrap()
            .next_after(at(now), &london())
            .unwrap();
        t.to_zoned(london())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    #[test]
    fn a_day_and_time_is_the_next_such_time() {
        // 2026-11-24 is a Tuesday.
        assert_eq!(
            next("sat 22:00", "2026-11-24T10:00"),
            "2026-11-28 22:00 GMT"
        );
        assert_eq!(
            next("Saturday 22:00", "2026-11-24T10:00"),
            "2026-11-28 22:00 GMT"
        );
        // On the day, before the time: today; at or after it: a week later.
        assert_eq!(
            next("sat 22:00", "2026-11-28T21:59"),
            "2026-11-28 22:00 GMT"
        );
        assert_eq!(
            next("sat 22:00", "2026-11-28T22:00"),
            "2026-12-05 22:00 GMT"
        );
        assert_eq!(
            next("sat 22:00", "2026-11-28T23:00"),
            "2026-12-05 22:00 GMT"
        );
        assert_eq!(
            next("sat,sun 06:00", "2026-11-28T23:00"),
            "2026-11-29 06:00 GMT"
        );
        // A time of day alone: today when still ahead, else tomorrow.
        assert_eq!(next("22:00", "2026-11-24T10:00"), "2026-11-24 22:00 GMT");
        assert_eq!(next("08:00", "2026-11-24T10:00"), "2026-11-25 08:00 GMT");
        assert_eq!(
            next("2026-11-28 22:00", "2026-11-24T10:00"),
            "2026-11-28 22:00 GMT"
        );
        let now = at("2026-11-24T10:00");
        assert_eq!(
            When::parse("now").unwrap().next_after(now, &london()),
            Some(now)
        );
    }

    #[test]
    fn summer_time_is_kept_across_the_change_of_the_clocks() {
        // The clocks go forward on Sunday 2027-03-28 at 01:00 GMT (to 02:00 BST).
        assert_eq!(
            next("sat 22:00", "2027-03-22T12:00"),
            "2027-03-27 22:00 GMT"
        );
        assert_eq!(
            next("sun 22:00", "2027-03-22T12:00"),
            "2027-03-28 22:00 BST"
        );
        // 01:30 does not exist that night: it is moved forward by the gap.
        assert_eq!(
            next("sun 01:30", "2027-03-22T12:00"),
            "2027-03-28 02:30 BST"
        );
        // They go back on Sunday 2027-10-31 at 02:00 BST: 01:30 happens twice, the first counts.
        assert_eq!(
            next("sun 01:30", "2027-10-25T12:00"),
            "2027-10-31 01:30 BST"
        );
        // The same local time a week apart is 167 hours apart across the change.
        let before = When::parse("sat 22:00").unwrap();
        let a = before
            .next_after(at("2027-10-25T12:00"), &london())
            .unwrap();
        let b = before.next_after(a, &london()).unwrap();
        assert_eq!(b.duration_since(a).as_hours(), 7 * 24 + 1);
    }

    #[test]
    fn what_is_not_a_time_says_what_is_expected() {
        let e = When::parse("saturdy 22:00").unwrap_err().to_string();
        assert!(
            e.starts_with("unknown day `saturdy` in `saturdy 22:00`; allowed: mon"),
            "{e}"
        );
        let e = When::parse("sat 25:00").unwrap_err().to_string();
        assert_eq!(
            e,
            "`25:00` is not a time of day; expected HH:MM such as 22:00"
        );
        let e = When::parse("next week").unwrap_err().to_string();
        assert!(e.contains("expected `now`, `HH:MM`"), "{e}");
        assert!(When::parse("2026-13-01 10:00").is_err());
        let e = When::parse("2026-02-30 10:00").unwrap_err().to_string();
        assert!(e.contains("2026-02-30"), "{e}");
        assert!(When::parse("tomorrow").is_err());
        let e = When::parse_recurring("2026-11-28 22:00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("repeats only as"), "{e}");
        assert!(time_zone("Mars/Olympus").is_err());
    }
}
