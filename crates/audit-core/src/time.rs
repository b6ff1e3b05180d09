//! Timestamps: microseconds since the Unix epoch, UTC.
//!
//! Stored as an integer so the canonical encoding never depends on a formatting library; shown
//! as RFC 3339 with microseconds (`2026-11-28T14:05:00.123456Z`), as `docs/EVENTS.md` promises.

use std::fmt;

/// A point in time, microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time from the system clock.
    pub fn now() -> Self {
        Self::from(jiff::Timestamp::now())
    }

    /// Whole seconds since the epoch (rounded down).
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Microseconds since the epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// From whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000))
    }

    /// Parses RFC 3339 (`2026-11-28T14:05:00Z`, any offset, fractional seconds optional).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        text.parse::<jiff::Timestamp>().ok().map(Self::from)
    }
}

impl From<jiff::Timestamp> for Timestamp {
    fn from(t: jiff::Timestamp) -> Self {
        Timestamp(t.as_microsecond())
    }
}

impl From<Timestamp> for jiff::Timestamp {
    fn from(t: Timestamp) -> Self {
        jiff::Timestamp::from_microsecond(t.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339, UTC, always six fractional digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t: jiff::Timestamp = (*self).into();
        write!(f, "{t:.6}")
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_rfc3339_with_microseconds() {
        let t = Timestamp(1_795_902_711_000_042);
        assert_eq!(t.to_string(), "2026-11-28T21:51:51.000042Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Some(t));
    }

    #[test]
    fn parses_offsets() {
        let a = Timestamp::parse_rfc3339("2026-11-28T15:05:00+01:00").unwrap();
        let b = Timestamp::parse_rfc3339("2026-11-28T14:05:00Z").unwrap();
        assert_eq!(a, b);
        assert!(Timestamp::parse_rfc3339("yesterday-ish").is_none());
    }
}
