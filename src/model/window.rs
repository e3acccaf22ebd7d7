//! Maintenance windows: when a delivered device may be changed (after hours, weekends).
//!
//! A window opens at `start` on each of its `days`, in its time zone, and closes at `end`;
//! an `end` at or before `start` means the next day (`22:00`-`06:00` spans midnight and
//! belongs to the day it starts on).

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// Which part of a written window is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// The loader words this one with "did you mean" (see [`DAYS`]).
    #[error("unknown day `{day}`; allowed: {}", DAYS.join(", "))]
    UnknownDay { index: usize, day: String },
    #[error("a window needs at least one day; allowed: {}", DAYS.join(", "))]
    NoDays,
    #[error("`{value}` is not a time of day; expected HH:MM such as 22:00")]
    BadTime { key: &'static str, value: String },
    #[error("unknown time zone `{name}`; expected an IANA name such as Europe/London or UTC")]
    UnknownTimeZone { name: String },
}

impl WindowError {
    /// The key of the window that is wrong (`days[1]`, `start`, `timezone`).
    pub fn key(&self) -> String {
        match self {
            WindowError::UnknownDay { index, .. } => format!("days[{index}]"),
            WindowError::NoDays => "days".into(),
            WindowError::BadTime { key, .. } => (*key).into(),
            WindowError::UnknownTimeZone { .. } => "timezone".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub days: Vec<Weekday>,
    pub start: Time,
    pub end: Time,
    pub tz_name: String,
    tz: TimeZone,
}

/// Day names as written in profiles.
pub const DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

pub(super) fn weekday(s: &str) -> Option<Weekday> {
    let s = s.to_ascii_lowercase();
    let short = s.get(..3)?;
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let i = DAYS.iter().position(|d| *d == short)?;
    (s == DAYS[i] || s == full[i]).then_some(Weekday::from_monday_one_offset(i as i8 + 1).ok()?)
}

fn day_name(d: Weekday) -> &'static str {
    DAYS[(d.to_monday_one_offset() - 1) as usize]
}

impl Window {
    /// Builds a window from its written form, or says which part is wrong.
    pub fn parse(
        days: &[String],
        start: &str,
        end: &str,
        timezone: &str,
    ) -> Result<Window, WindowError> {
        let mut ds = Vec::new();
        for (index, d) in days.iter().enumerate() {
            match weekday(d) {
                Some(w) => ds.push(w),
                None => {
                    return Err(WindowError::UnknownDay {
                        index,
                        day: d.clone(),
                    });
                }
            }
        }
        if ds.is_empty() {
            return Err(WindowError::NoDays);
        }
        let time = |key: &'static str, v: &str| -> Result<Time, WindowError> {
            let ok = v.len() == 5 && v.as_bytes()[2] == b':';
            let parsed = ok.then(|| v.parse::<Time>().ok()).flatten();
            parsed.ok_or_else(|| WindowError::BadTime {
                key,
                value: v.to_string(),
            })
        };
        let start_t = time("start", start)?;
        let end_t = time("end", end)?;
        let tz = TimeZone::get(timezone).map_err(|_| WindowError::UnknownTimeZone {
            name: timezone.to_string(),
        })?;
        Ok(Window {
            days: ds,
            start: start_t,
            end: end_t,
            tz_name: timezone.to_string(),
            tz,
        })
    }

    /// The window that opens on `date` (if it is one of its days): [open, close).
    fn on(&self, date: Date) -> Option<(Zoned, Zoned)> {
        if !self.days.contains(&date.weekday()) {
            return None;
        }
        let open = date
            .to_datetime(self.start)
            .to_zoned(self.tz.clone())
            .ok()?;
        let end_date = if self.end <= self.start {
            date.tomorrow().ok()?
        } else {
            date
        };
        let close = end_date
            .to_datetime(self.end)
            .to_zoned(self.tz.clone())
            .ok()?;
        Some((open, close))
    }

    /// The window around `t`, if it is open then: [open, close).
    pub fn open_at(&self, t: Timestamp) -> Option<(Zoned, Zoned)> {
        let today = t.to_zoned(self.tz.clone()).date();
        for date in [today.yesterday().ok()?, today] {
            if let Some((open, close)) = self.on(date)
                && open.timestamp() <= t
                && t < close.timestamp()
            {
                return Some((open, close));
            }
        }
        None
    }

    pub fn contains(&self, t: Timestamp) -> bool {
        self.open_at(t).is_some()
    }

    /// When it next opens after `t` (or `t` itself when open now).
    pub fn next_open(&self, t: Timestamp) -> Option<Zoned> {
        if self.contains(t) {
            return Some(t.to_zoned(self.tz.clone()));
        }
        let today = t.to_zoned(self.tz.clone()).date();
        (0..8)
            .filter_map(|i| today.checked_add(i.days()).ok())
            .filter_map(|d| self.on(d))
            .map(|(open, _)| open)
            .find(|open| open.timestamp() > t)
    }

    /// When it next opens after the window open at `t` closes (the opening of the window
    /// that starts as this one closes, when one does); when it is closed at `t`, its next
    /// opening after `t`. Never an opening of the window open at `t`: a job that runs once
    /// per window moves on with this.
    pub fn next_open_after(&self, t: Timestamp) -> Option<Zoned> {
        match self.open_at(t) {
            Some((_, close)) => self.next_open(close.timestamp()),
            None => self.next_open(t),
        }
    }

    /// `sat,sun 22:00-06:00 Europe/London`
    pub fn describe(&self) -> String {
        format!("{} {}", self.days_and_hours(), self.tz_name)
    }

    /// Its days and hours without the zone, `sat,sun 22:00-06:00`: the form
    /// [`Window::parse_days_and_hours`] reads back.
    pub fn days_and_hours(&self) -> String {
        let days: Vec<&str> = self.days.iter().map(|d| day_name(*d)).collect();
        format!(
            "{} {}-{}",
            days.join(","),
            self.start.strftime("%H:%M"),
            self.end.strftime("%H:%M"),
        )
    }

    /// Reads `sat,sun 22:00-06:00` (as [`Window::days_and_hours`] writes it) in `timezone`.
    pub fn parse_days_and_hours(text: &str, timezone: &str) -> Result<Window, WindowError> {
        let (days, hours) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
        let (start, end) = hours.trim().split_once('-').unwrap_or((hours.trim(), ""));
        let days: Vec<String> = days
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
        Window::parse(&days, start, end, timezone)
    }
}

/// A zoned time as CSPs read it: `2026-11-28 22:00 Europe/London`.
pub fn local(z: &Zoned, tz_name: &str) -> String {
    format!("{} {tz_name}", z.strftime("%Y-%m-%d %H:%M"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(days: &[&str], start: &str, end: &str) -> Window {
        let days: Vec<String> = days.iter().map(|s| s.to_string()).collect();
        Window::parse(&days, start, end, "Europe/London").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        // Local London time; November is GMT (UTC+0).
        format!("{s}+00:00").parse().unwrap()
    }

    #[test]
    fn a_window_over_midnight_belongs_to_the_day_it_starts() {
        // 2026-11-27 is a Friday.
        let win = w(&["fri", "sat"], "22:00", "06:00");
        assert!(!win.contains(at("2026-11-27T21:59:00")));
        assert!(win.contains(at("2026-11-27T22:00:00")));
        assert!(
            win.contains(at("2026-11-28T05:59:00")),
            "Friday's window runs into Saturday"
        );
        assert!(!win.contains(at("2026-11-28T06:00:00")));
        assert!(
            win.contains(at("2026-11-29T03:00:00")),
            "Saturday's runs into Sunday"
        );
        assert!(
            !win.contains(at("2026-11-29T22:30:00")),
            "no window starts on Sunday"
        );
    }

    #[test]
    fn next_open_is_the_next_start_on_one_of_its_days() {
        let win = w(&["sat", "sun"], "08:00", "18:00");
        let next = win.next_open(at("2026-11-24T10:00:00")).unwrap(); // a Tuesday
        assert_eq!(local(&next, &win.tz_name), "2026-11-28 08:00 Europe/London");
        let now = at("2026-11-28T09:00:00");
        assert_eq!(win.next_open(now).unwrap().timestamp(), now);
        assert_eq!(win.describe(), "sat,sun 08:00-18:00 Europe/London");
    }

    /// `s` (`2027-03-28T02:30`) as a London local time.
    fn london(s: &str) -> Timestamp {
        s.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(TimeZone::get("Europe/London").unwrap())
            .unwrap()
            .timestamp()
    }

    fn shown(z: &Zoned) -> String {
        z.strftime("%Y-%m-%d %H:%M %Z").to_string()
    }

    #[test]
    fn the_next_opening_after_this_window_is_the_next_window_in_local_time() {
        let win = w(&["sat"], "22:00", "06:00");
        // Closed: its next opening.
        let next = win.next_open_after(london("2026-11-24T10:00")).unwrap();
        assert_eq!(shown(&next), "2026-11-28 22:00 GMT");
        // Open, just opened or about to close: next week's, never this one.
        for t in ["2026-11-28T22:00", "2026-11-29T03:00", "2026-11-29T05:59"] {
            let next = win.next_open_after(london(t)).unwrap();
            assert_eq!(shown(&next), "2026-12-05 22:00 GMT", "{t}");
        }
        // Windows that touch (every day, all day): the next one opens as this one closes.
        let all = w(DAYS, "00:00", "00:00");
        let next = all.next_open_after(london("2026-11-24T10:00")).unwrap();
        assert_eq!(shown(&next), "2026-11-25 00:00 GMT");
        // The form a scheduled job keeps reads back as the same window.
        assert_eq!(win.days_and_hours(), "sat 22:00-06:00");
        let back = Window::parse_days_and_hours("sat 22:00-06:00", "Europe/London").unwrap();
        assert_eq!(back, win);
        assert!(Window::parse_days_and_hours("sat 22:00", "Europe/London").is_err());
    }

    #[test]
    fn the_next_opening_keeps_local_time_across_the_change_of_the_clocks() {
        let win = w(&["sat"], "22:00", "06:00");
        // The clocks go back on Sunday 2027-10-31 at 02:00 BST: this night's window is 9
        // hours long, and the next one opens at 22:00 GMT, 169 hours after this one.
        let open = london("2027-10-30T22:00");
        let (_, close) = win.open_at(london("2027-10-31T05:30")).unwrap();
        assert_eq!(close.timestamp().duration_since(open).as_hours(), 9);
        let next = win.next_open_after(london("2027-10-31T05:30")).unwrap();
        assert_eq!(shown(&next), "2027-11-06 22:00 GMT");
        assert_eq!(next.timestamp().duration_since(open).as_hours(), 7 * 24 + 1);
        // They go forward on Sunday 2027-03-28 at 01:00 GMT: a 7-hour night, and the next
        // opening is 22:00 BST, 167 hours later.
        let open = london("2027-03-27T22:00");
        let next = win.next_open_after(open).unwrap();
        assert_eq!(shown(&next), "2027-04-03 22:00 BST");
        assert_eq!(next.timestamp().duration_since(open).as_hours(), 7 * 24 - 1);
        // A daily window opening in the hour the clocks skip opens by the gap later.
        let early = w(DAYS, "01:30", "03:00");
        let next = early.next_open_after(london("2027-03-27T02:00")).unwrap();
        assert_eq!(shown(&next), "2027-03-28 02:30 BST");
    }

    #[test]
    fn bad_parts_are_named() {
        let d = vec!["saturdy".to_string()];
        let e = Window::parse(&d, "22:00", "06:00", "UTC").unwrap_err();
        assert_eq!(e.key(), "days[0]");
        assert!(e.to_string().starts_with("unknown day `saturdy`"), "{e}");
        let d = vec!["sat".to_string()];
        assert_eq!(
            Window::parse(&d, "25:00", "06:00", "UTC")
                .unwrap_err()
                .key(),
            "start"
        );
        assert_eq!(
            Window::parse(&d, "22:00", "6", "UTC").unwrap_err().key(),
            "end"
        );
        assert_eq!(
            Window::parse(&d, "22:00", "06:00", "Mars/Olympus")
                .unwrap_err()
                .key(),
            "timezone"
        );
    }
}
