//! One sink's loop: read on from the cursor, deliver in order, then save the cursor.
//!
//! ```text
//! loop: read ≤ 512 events after cursor ─ none ─▶ wait for a wake (or 500 ms)
//!          │ some
//!          ▼
//!       send the wanted ones, flush ─ ok ─▶ cursor = last read seq (skipped kinds included), saved
//!          │ failed
//!          ▼
//!       report the outage once, back off (250 ms doubling to 30 s), try the same events again
//! ```
//!
//! The cursor is saved after the flush, so a crash between them sends the batch again
//! (at-least-once); events are never sent past one that failed (in order).

use crate::config::SinkSpec;
use crate::deliver::Deliver;
use crate::error::DeliverError;
use crate::outage::{Health, Notice};
use crate::shared::{Report, Shared, SinkStatus};
use audit_core::{Stored, Timestamp};
use audit_store::EventStore;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most events read and delivered at once.
const BATCH: usize = 512;
/// How often an idle sink looks for new events when nobody wakes it.
const POLL: Duration = Duration::from_millis(500);
/// How long to wait after the store itself failed to read.
const STORE_RETRY: Duration = Duration::from_secs(1);

pub(crate) struct Worker {
    pub(crate) spec: SinkSpec,
    pub(crate) store: Box<dyn EventStore>,
    pub(crate) deliver: Box<dyn Deliver>,
    pub(crate) cursor: u64,
    pub(crate) host: String,
    pub(crate) report: Report,
    pub(crate) shared: Arc<Shared>,
    pub(crate) status: Arc<Mutex<SinkStatus>>,
}

impl Worker {
    pub(crate) fn run(mut self) {
        let mut health = Health::default();
        let mut seen = self.shared.generation();
        let mut store_failing = false;
        let mut saved = self.cursor;
        loop {
            let stop_at = self.shared.stop_at();
            if stop_at.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let batch = match self.read_batch() {
                Ok(batch) => {
                    store_failing = false;
                    batch
                }
                Err(error) => {
                    if !std::mem::replace(&mut store_failing, true) {
                        tracing::warn!(sink = %self.spec.name, "cannot read the store: {error}");
                    }
                    self.shared.pause(STORE_RETRY);
                    continue;
                }
            };
            let Some(last) = batch.last().map(|s| s.seq) else {
                if stop_at.is_some() {
                    break; // everything stored has been delivered
                }
                seen = self.shared.wait_for_news(seen, POLL);
                continue;
            };
            let before = self.cursor;
            let result = self.deliver_batch(&batch);
            if self.cursor != saved {
                saved = self.save_cursor(saved);
            }
            match result {
                Ok(()) => {
                    debug_assert_eq!(self.cursor, last);
                    if let Some(notice) = health.delivered(Instant::now()) {
                        self.announce(notice, before);
                    }
                }
                Err(error) => {
                    let error = error.to_string();
                    let (wait, notice) = health.failed(&error, Instant::now(), Timestamp::now());
                    tracing::debug!(sink = %self.spec.name, "delivery failed, next try in {wait:?}: {error}");
                    self.set_status(health.failing_since(), Some(error));
                    if let Some(notice) = notice {
                        self.announce(notice, before);
                    }
                    self.shared.pause(wait);
                    continue;
                }
            }
            self.set_status(None, None);
        }
        self.set_status(health.failing_since(), None);
    }

    fn read_batch(&self) -> Result<Vec<Stored>, audit_store::StoreError> {
        let mut batch = Vec::new();
        self.store.events_after(self.cursor, BATCH, &mut |s| {
            batch.push(s);
            true
        })?;
        Ok(batch)
    }

    /// Delivers `batch` in order. On failure the cursor still moves past what the receiver is
    /// known to have (events a webhook acknowledged, and unwanted kinds before them).
    fn deliver_batch(&mut self, batch: &[Stored]) -> Result<(), DeliverError> {
        let each = self.deliver.acknowledges_each();
        let mut acked = self.cursor;
        let mut unacked = false;
        for stored in batch {
            if self.spec.wants(stored.event.kind) {
                if let Err(e) = self.deliver.send(stored) {
                    self.cursor = acked;
                    return Err(e);
                }
                unacked |= !each;
            }
            if !unacked {
                acked = stored.seq;
            }
        }
        if let Err(e) = self.deliver.flush() {
            self.cursor = acked;
            return Err(e);
        }
        self.cursor = batch.last().map_or(self.cursor, |s| s.seq);
        Ok(())
    }

    /// Saves the cursor; returns what is saved now. A failed save only means those events are
    /// sent again after a restart, so it is logged and retried with the next batch.
    fn save_cursor(&self, saved: u64) -> u64 {
        match self.store.set_sink_cursor(&self.spec.name, self.cursor) {
            Ok(()) => self.cursor,
            Err(error) => {
                tracing::warn!(sink = %self.spec.name, "cannot save the sink's cursor: {error}");
                saved
            }
        }
    }

    /// Reports an outage's start or end to the daemon (once each) and the log.
    fn announce(&self, notice: Notice, cursor_before: u64) {
        let held = || {
            let head = self.store.head().ok().flatten().map_or(0, |h| h.seq);
            head.saturating_sub(cursor_before)
        };
        (self.report)(notice.event(&self.host, &self.spec.name, held));
    }

    fn set_status(&self, failing_since: Option<Timestamp>, error: Option<String>) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.cursor = self.cursor;
        status.failing_since = failing_since;
        if error.is_some() || failing_since.is_none() {
            status.last_error = error;
        }
    }
}
