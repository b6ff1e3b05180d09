//! What the forwarder and its sink threads share: how events are reported back, where each
//! sink stands, and the wake counter and stop deadline (so neither side imports the other).

use audit_core::{Event, Timestamp};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How the forwarder hands the daemon its `sink-failed` / `sink-recovered` events to record.
/// Called from sink threads; it should not block for long.
pub type Report = Arc<dyn Fn(Event) + Send + Sync>;

/// Where one sink stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkStatus {
    /// The sink's name (its cursor key).
    pub name: String,
    /// The last `seq` delivered (or passed over by its `kinds`); `0`: none yet. For a
    /// collector sink, the seq the collector acknowledged holding.
    pub cursor: u64,
    /// How far behind the local store's head the sink is, as of its last step; `None` until
    /// it knows (a collector sink knows once the collector has answered; other sinks leave it
    /// to be computed from `cursor`).
    pub lag: Option<Lag>,
    /// When its current outage began, if it is failing.
    pub failing_since: Option<Timestamp>,
    /// The last delivery error of the current outage.
    pub last_error: Option<String>,
}

/// How far a sink is behind the store's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lag {
    /// Records stored but not yet delivered (acknowledged): head − cursor.
    pub records: u64,
    /// The time of the oldest of them (`None`: nothing is behind).
    pub oldest: Option<Timestamp>,
}

impl Lag {
    /// Seconds between the oldest record not yet delivered and `now` (0 when nothing is
    /// behind).
    pub fn seconds(&self, now: Timestamp) -> u64 {
        self.oldest.map_or(0, |t| {
            u64::try_from((now.as_micros() - t.as_micros()).max(0) / 1_000_000).unwrap_or(0)
        })
    }
}

/// What the sinks share with the forwarder: the wake counter and the stop deadline.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    generation: u64,
    stop_at: Option<Instant>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stop(&self, deadline: Instant) {
        let mut state = self.lock();
        state.stop_at = Some(state.stop_at.map_or(deadline, |d| d.min(deadline)));
        self.changed.notify_all();
    }

    /// Counts a wake and tells the waiting sinks.
    pub(crate) fn wake(&self) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        self.changed.notify_all();
    }

    /// When the sinks must be done, once `stop` was asked.
    pub(crate) fn stop_at(&self) -> Option<Instant> {
        self.lock().stop_at
    }

    /// The current wake count.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Waits until a wake after `seen`, a stop, or `timeout`; returns the wake count.
    pub(crate) fn wait_for_news(&self, seen: u64, timeout: Duration) -> u64 {
        let end = Instant::now() + timeout;
        let mut state = self.lock();
        while state.generation == seen && state.stop_at.is_none() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.generation
    }

    /// Waits `pause` (a backoff); a stop cuts it short to the stop deadline.
    pub(crate) fn pause(&self, pause: Duration) {
        let end = Instant::now() + pause;
        let mut state = self.lock();
        loop {
            let until = state.stop_at.map_or(end, |d| d.min(end));
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
