//! One sink's health: how long to wait before the next try, and when to tell the world.
//!
//! An outage is reported when it starts and again when it ends — once each, never per retry,
//! because the daemon records those reports and so forwards them to every sink, including the
//! failing one. A sink that flaps (fails again soon after recovering) could still produce two
//! reports per cycle, so a new outage within [`QUIET`] of the last `sink-failed` report is
//! reported only once it has lasted until the quiet time is over (and, if it ends before, not
//! at all: nothing was lost, delivery is at-least-once). At most one pair per sink per minute.
//! Pure: the caller passes the clock.

use audit_core::{Event, Kind, Timestamp};
use std::time::{Duration, Instant};

/// First wait after a failure; doubled per failure up to [`BACKOFF_MAX`].
pub(crate) const BACKOFF_START: Duration = Duration::from_millis(250);
/// Longest wait between tries.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Shortest time between two `sink-failed` reports of one sink.
pub(crate) const QUIET: Duration = Duration::from_secs(60);

/// What the worker should report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// The sink stopped accepting events at `since`.
    Failed { since: Timestamp, error: String },
    /// It accepts them again after an outage that began at `since` and lasted `lasted`.
    Recovered { since: Timestamp, lasted: Duration },
}

struct Outage {
    started: Instant,
    since: Timestamp,
    reported: bool,
}

/// Backoff and report state of one sink.
#[derive(Default)]
pub(crate) struct Health {
    backoff: Option<Duration>,
    outage: Option<Outage>,
    last_failed_report: Option<Instant>,
}

impl Health {
    /// A try failed: how long to wait, and whether to report the outage now.
    pub(crate) fn failed(
        &mut self,
        error: &str,
        now: Instant,
        time: Timestamp,
    ) -> (Duration, Option<Notice>) {
        let wait = self
            .backoff
            .map_or(BACKOFF_START, |b| (b * 2).min(BACKOFF_MAX));
        self.backoff = Some(wait);
        let outage = self.outage.get_or_insert(Outage {
            started: now,
            since: time,
            reported: false,
        });
        let quiet = self
            .last_failed_report
            .is_none_or(|t| now.duration_since(t) >= QUIET);
        let notice = (!outage.reported && quiet).then(|| {
            outage.reported = true;
            self.last_failed_report = Some(now);
            Notice::Failed {
                since: outage.since,
                error: error.to_owned(),
            }
        });
        (wait, notice)
    }

    /// A try succeeded: the outage, if any, is over.
    pub(crate) fn delivered(&mut self, now: Instant) -> Option<Notice> {
        self.backoff = None;
        let outage = self.outage.take()?;
        outage.reported.then(|| Notice::Recovered {
            since: outage.since,
            lasted: now.duration_since(outage.started),
        })
    }

    /// When the current outage began, if the sink is failing.
    pub(crate) fn failing_since(&self) -> Option<Timestamp> {
        self.outage.as_ref().map(|o| o.since)
    }
}

impl Notice {
    /// The event that reports this notice of sink `sink` on `host` (and logs it once): `held`
    /// is how many events waited in the store during the outage.
    pub(crate) fn event(self, host: &str, sink: &str, held: impl FnOnce() -> u64) -> Event {
        let now = Timestamp::now();
        let mut e = match self {
            Notice::Failed { since, error } => {
                tracing::warn!(sink = %sink, "sink stopped accepting events: {error} (retrying; events wait in the store)");
                let mut e = Event::new(now, Kind::SinkFailed, host, "forwarder");
                e.from = Some(since);
                e.message = Some(error);
                e
            }
            Notice::Recovered { since, lasted } => {
                let message = format!(
                    "delivered after {:.1} s; {} events were held",
                    lasted.as_secs_f64(),
                    held()
                );
                tracing::info!(sink = %sink, "sink accepts events again: {message}");
                let mut e = Event::new(now, Kind::SinkRecovered, host, "forwarder");
                e.from = Some(since);
                e.until = Some(now);
                e.message = Some(message);
                e
            }
        };
        e.sink = Some(sink.to_owned());
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_outage_and_capped_backoff() {
        let mut h = Health::default();
        let t0 = Instant::now();
        let (wait, notice) = h.failed("refused", t0, Timestamp(1));
        assert_eq!(wait, BACKOFF_START);
        assert!(matches!(
            notice,
            Some(Notice::Failed {
                since: Timestamp(1),
                ..
            })
        ));
        let mut waits = vec![];
        for i in 1..12 {
            let (wait, notice) = h.failed("refused", t0 + Duration::from_secs(i), Timestamp(2));
            assert_eq!(notice, None, "no report per retry");
            waits.push(wait.as_millis());
        }
        assert_eq!(&waits[..4], [500, 1000, 2000, 4000]);
        assert_eq!(*waits.last().unwrap(), 30_000);
        let back = h.delivered(t0 + Duration::from_secs(12));
        assert_eq!(
            back,
            Some(Notice::Recovered {
                since: Timestamp(1),
                lasted: Duration::from_secs(12)
            })
        );
        assert_eq!(h.delivered(t0 + Duration::from_secs(13)), None);
    }

    #[test]
    fn a_flapping_sink_is_reported_at_most_once_a_minute() {
        let mut h = Health::default();
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        assert!(h.failed("x", at(0), Timestamp(0)).1.is_some());
        assert!(h.delivered(at(1)).is_some());
        // Fails again at once: not reported, and its end is not reported either.
        assert!(h.failed("x", at(2), Timestamp(2)).1.is_none());
        assert!(h.delivered(at(3)).is_none());
        // Fails again and lasts past the quiet time: reported then, with its real start.
        assert!(h.failed("x", at(10), Timestamp(10)).1.is_none());
        let late = h.failed("x", at(61), Timestamp(61)).1;
        assert!(matches!(
            late,
            Some(Notice::Failed {
                since: Timestamp(10),
                ..
            })
        ));
        assert!(h.delivered(at(62)).is_some());
    }
}
