//! The collector sink: ships every record, with its chunk, to a central collector, positioned
//! by what the collector acknowledges.
//!
//! ```text
//! (start, or after any failure) GET /v1/head ─▶ check it against the local chain ─▶ cursor = head
//!   loop: read ≤ 2000 records / ~2 MiB after the head, chunks included ─ none ─▶ wait for a wake
//!           │
//!           ▼
//!         POST /v1/records ─ 200 ─▶ head = the acknowledgement, saved as the sink's cursor
//!           │ 409 gap: ask the head again and resume from it
//!           │ 409 chain-fork, 401, 5xx, transport: report the outage once, back off, ask again
//! ```
//!
//! The collector's head is the truth: a batch whose answer was lost is not resent twice (the
//! center skips records it holds identical), and a collector restored from a backup is
//! refilled from where it is. Before resuming, the head is checked: a collector holding more
//! than this store has (another host's token?) is an outage, retried with backoff. A record at
//! the head other than the local one (the local history was rewritten after shipping) is
//! logged, and the records after it are shipped all the same: the center refuses them as a
//! chain fork, keeps them as evidence and records the alert where auditors look (one alert
//! per forked seq, however often the host retries).

mod client;
mod setup;

use crate::config::{SinkKind, SinkSpec};
use crate::error::{ForwardError, ShipError};
use crate::outage::{Health, Notice};
use crate::shared::{Lag, Report, Shared, SinkStatus};
use audit_core::{encoding, Kind, Stored, Timestamp};
use audit_ship::{HeadAnswer, PostAnswer};
use audit_store::central::{HostHead, Shipped};
use audit_store::EventStore;
use client::Client;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most records per batch.
const MAX_RECORDS: usize = 2000;
/// Batches stop growing past this many bytes (one record alone may be larger).
const MAX_BYTES: usize = 2 << 20;
/// How often an idle sink looks for new records when nobody wakes it.
const POLL: Duration = Duration::from_millis(500);
/// How long to wait after the local store failed to read.
const STORE_RETRY: Duration = Duration::from_secs(1);
/// `gap` answers in a row taken as a failure (each one re-asks the head first).
const GAPS_TOLERATED: u32 = 3;

/// The HTTP client a collector sink uses, set up (token and CA read) when the forwarder starts.
pub(crate) fn client_for(spec: &SinkSpec) -> Result<Option<Client>, ForwardError> {
    let SinkKind::Collector {
        url,
        token_file,
        ca_file,
    } = &spec.kind
    else {
        return Ok(None);
    };
    let setup = |error| ForwardError::Setup {
        sink: spec.name.clone(),
        error,
    };
    let token = setup::token(token_file).map_err(setup)?;
    let trust = match ca_file {
        Some(path) => Some(setup::certificates(path).map_err(setup)?),
        None => None,
    };
    Ok(Some(Client::new(url, token, trust)))
}

/// One collector sink's thread.
pub(crate) struct Shipper {
    pub(crate) name: String,
    pub(crate) client: Client,
    pub(crate) store: Box<dyn EventStore>,
    /// The last seq the collector acknowledged (as saved in the sink's cursor).
    pub(crate) cursor: u64,
    pub(crate) host: String,
    pub(crate) report: Report,
    pub(crate) shared: Arc<Shared>,
    pub(crate) status: Arc<Mutex<SinkStatus>>,
}

enum Step {
    /// A batch was acknowledged.
    Shipped,
    /// Nothing to ship.
    Idle,
    /// A `gap`: ask the head and go on at once.
    Resume,
}

impl Shipper {
    pub(crate) fn run(mut self) {
        let mut health = Health::default();
        let mut seen = self.shared.generation();
        let mut acked: Option<HostHead> = None;
        let mut gaps = 0;
        let mut store_failing = false;
        loop {
            let stop_at = self.shared.stop_at();
            if stop_at.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let before = self.cursor;
            // An outage began when the try that failed began (a cut network fails a try only
            // after its timeout).
            let tried = Timestamp::now();
            match self.step(&mut acked, &mut gaps) {
                Ok(step) => {
                    store_failing = false;
                    if let Some(notice) = health.delivered(Instant::now()) {
                        self.announce(notice, before);
                    }
                    self.set_status(None, None);
                    match step {
                        Step::Shipped | Step::Resume => {}
                        Step::Idle if stop_at.is_some() => break,
                        Step::Idle => seen = self.shared.wait_for_news(seen, POLL),
                    }
                }
                Err(ShipError::Store(error)) => {
                    if !std::mem::replace(&mut store_failing, true) {
                        tracing::warn!(sink = %self.name, "cannot read the store: {error}");
                    }
                    self.shared.pause(STORE_RETRY);
                }
                Err(error) => {
                    acked = None;
                    let error = error.to_string();
                    let (wait, notice) = health.failed(&error, Instant::now(), tried);
                    tracing::debug!(sink = %self.name, "shipping failed, next try in {wait:?}: {error}");
                    self.set_status(health.failing_since(), Some(error));
                    if let Some(notice) = notice {
                        self.announce(notice, before);
                    }
                    self.shared.pause(wait);
                }
            }
        }
        self.set_status(health.failing_since(), None);
    }

    /// Asks the head if it is not known, then ships one batch after it.
    fn step(&mut self, acked: &mut Option<HostHead>, gaps: &mut u32) -> Result<Step, ShipError> {
        let head = match *acked {
            Some(head) => head,
            None => {
                let head = self.checked_head()?;
                *acked = Some(head);
                self.save_cursor(head.seq);
                head
            }
        };
        let batch = self.read_batch(head.seq)?;
        if batch.is_empty() {
            return Ok(Step::Idle);
        }
        match self.client.post(&batch)? {
            PostAnswer::Stored { head, .. } => {
                *gaps = 0;
                *acked = Some(head);
                self.save_cursor(head.seq);
                Ok(Step::Shipped)
            }
            PostAnswer::Gap { head } => {
                *acked = None;
                *gaps += 1;
                if *gaps > GAPS_TOLERATED {
                    *gaps = 0;
                    return Err(ShipError::Gaps(head.seq));
                }
                Ok(Step::Resume)
            }
            PostAnswer::Forked { refused, why, .. } => Err(ShipError::Fork { refused, why }),
        }
    }

    /// The collector's head, if the local chain continues it.
    fn checked_head(&self) -> Result<HostHead, ShipError> {
        let HeadAnswer { host, head } = self.client.head()?;
        let local = self.store.head()?.map_or(0, |h| h.seq);
        if head.seq > local {
            return Err(ShipError::Ahead {
                host,
                central: head.seq,
                local,
            });
        }
        if head.seq > 0 {
            let mut mine = None;
            self.store.events_after(head.seq - 1, 1, &mut |s| {
                mine = Some(s);
                false
            })?;
            if mine.is_none_or(|s| s.seq != head.seq || s.hash != head.hash) {
                // Shipped on all the same: the center refuses what does not link, keeps it as
                // evidence and raises its alert; saying so only here would hide the fork from
                // the auditors who read the center.
                tracing::error!(
                    sink = %self.name,
                    "{}",
                    ShipError::Diverged {
                        host,
                        seq: head.seq,
                    }
                );
            }
        }
        Ok(head)
    }

    /// The records after `after`, as shipped: canonical bytes (re-encoded: one encoding per
    /// event), hash, and each `pane-output` record's chunk.
    fn read_batch(&self, after: u64) -> Result<Vec<Shipped>, ShipError> {
        let mut stored: Vec<Stored> = Vec::new();
        self.store.events_after(after, MAX_RECORDS, &mut |s| {
            stored.push(s);
            true
        })?;
        let mut batch = Vec::with_capacity(stored.len());
        let mut bytes = 0;
        for s in stored {
            let chunk = match s.event.kind {
                Kind::PaneOutput => self.store.chunk(s.seq)?,
                _ => None,
            };
            let record = Shipped {
                seq: s.seq,
                data: encoding::encode(s.seq, &s.event),
                hash: s.hash,
                chunk,
            };
            bytes += audit_ship::encoded_len(&record);
            if bytes > MAX_BYTES && !batch.is_empty() {
                break;
            }
            batch.push(record);
        }
        Ok(batch)
    }

    /// Saves the acknowledged seq as the sink's cursor (what `config show` reads as its lag).
    /// A failed save only costs a head request after a restart; logged, tried again later.
    fn save_cursor(&mut self, seq: u64) {
        if seq == self.cursor {
            return;
        }
        match self.store.set_sink_cursor(&self.name, seq) {
            Ok(()) => self.cursor = seq,
            Err(error) => {
                tracing::warn!(sink = %self.name, "cannot save the sink's cursor: {error}");
                self.cursor = seq;
            }
        }
    }

    fn announce(&self, notice: Notice, cursor_before: u64) {
        let held = || {
            let head = self.store.head().ok().flatten().map_or(0, |h| h.seq);
            head.saturating_sub(cursor_before)
        };
        (self.report)(notice.event(&self.host, &self.name, held));
    }

    /// Where it stands, with its lag behind the local head.
    fn set_status(&self, failing_since: Option<Timestamp>, error: Option<String>) {
        let lag = self.lag().ok();
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.cursor = self.cursor;
        if lag.is_some() {
            status.lag = lag;
        }
        status.failing_since = failing_since;
        if error.is_some() || failing_since.is_none() {
            status.last_error = error;
        }
    }

    fn lag(&self) -> Result<Lag, audit_store::StoreError> {
        let head = self.store.head()?.map_or(0, |h| h.seq);
        let records = head.saturating_sub(self.cursor);
        let mut oldest = None;
        if records > 0 {
            self.store.events_after(self.cursor, 1, &mut |s| {
                oldest = Some(s.event.time);
                false
            })?;
        }
        Ok(Lag { records, oldest })
    }
}
