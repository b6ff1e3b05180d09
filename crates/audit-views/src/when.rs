//! Times as people write them, in a command line or a web form: RFC 3339 (`2026-11-28T14:05:00Z`), a local date and
//! time (`2026-11-28 14:05`, `2026-11-28`), `now`, or an age (`90s`, `15m`, `2h`, `1d`, `1h30m`,
//! `2 days`) meaning that long ago.

use audit_core::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::{Span, Zoned};
use std::fmt;

/// A time argument that could not be read.
#[derive(Debug, Clone)]
pub struct BadTime(String);

impl fmt::Display for BadTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read time {:?}: use RFC 3339 (2026-11-28T14:05:00Z), a local date and time (2026-11-28 14:05), or an age such as 90s, 15m, 2h, 1d",
            self.0
        )
    }
}

impl std::error::Error for BadTime {}

/// Parses a time argument relative to `now`.
pub fn parse_at(text: &str, now: &Zoned) -> Result<Timestamp, BadTime> {
    let t = text.trim();
    let bad = || BadTime(text.to_owned());
    if t.eq_ignore_ascii_case("now") {
        return Ok(Timestamp::from(now.timestamp()));
    }
    if let Some(ts) = Timestamp::parse_rfc3339(t) {
        return Ok(ts);
    }
    let local = |dt: DateTime| {
        dt.to_zoned(now.time_zone().clone())
            .map(|z| Timestamp::from(z.timestamp()))
            .map_err(|_| bad())
    };
    if let Ok(dt) = t.replacen(' ', "T", 1).parse::<DateTime>() {
        return local(dt);
    }
    if let Ok(d) = t.parse::<Date>() {
        return local(d.to_datetime(jiff::civil::Time::midnight()));
    }
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        if let Ok(span) = t.parse::<Span>() {
            if let Ok(then) = now.checked_sub(span) {
                return Ok(Timestamp::from(then.timestamp()));
            }
        }
    }
    Err(bad())
}

/// clap value parser: a time relative to the moment the command started.
pub fn arg(text: &str) -> Result<Timestamp, BadTime> {
    parse_at(text, &Zoned::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Zoned {
        "2026-11-28T12:00:00+00:00[UTC]".parse().unwrap()
    }

    fn at(text: &str) -> String {
        parse_at(text, &now()).unwrap().to_string()
    }

    #[test]
    fn reads_every_documented_form() {
        assert_eq!(at("2026-11-28T14:05:00Z"), "2026-11-28T14:05:00.000000Z");
        assert_eq!(at("2026-11-28 14:05"), "2026-11-28T14:05:00.000000Z");
        assert_eq!(at("2026-11-27"), "2026-11-27T00:00:00.000000Z");
        assert_eq!(at("2h"), "2026-11-28T10:00:00.000000Z");
        assert_eq!(at("1h30m"), "2026-11-28T10:30:00.000000Z");
        assert_eq!(at("1d"), "2026-11-27T12:00:00.000000Z");
        assert_eq!(at("90s"), "2026-11-28T11:58:30.000000Z");
        assert_eq!(at("now"), "2026-11-28T12:00:00.000000Z");
    }

    #[test]
    fn refuses_nonsense_with_a_hint() {
        for bad in ["yesterdayish", "", "-2h", "2026-13-01", "$(touch x)"] {
            let e = parse_at(bad, &now()).unwrap_err().to_string();
            assert!(e.contains("RFC 3339"), "{bad}: {e}");
        }
    }
}
