//! The single writer: takes batches of events from a bounded channel and commits them in
//! groups. Senders wait when the channel is full (no event is dropped); a failing store (disk
//! full) is retried every second with what it holds kept in memory, one record per transaction
//! until the backlog is gone (a group too big for the space that returned must not block the
//! rest), and the failure is logged once per outage.

use crate::attributing::Attributing;
use crate::sealer::Sealer;
use audit_core::{Event, Timestamp};
use audit_store::{Attachment, EventStore, StoreError};
use audit_tmux::Sink;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Batches waiting in the channel before senders block.
const CHANNEL_BATCHES: usize = 1024;
/// Most events committed in one transaction.
const GROUP_MAX: usize = 4096;
/// A commit this recent means events are streaming in (a burst of programs, say): the next
/// group waits up to [`LINGER`] for more, so a burst costs one transaction (and one fsync) per
/// few milliseconds instead of one per event. After a quiet spell the first event is committed
/// at once, so an attach is never held back.
const BUSY: Duration = Duration::from_millis(10);
/// How long a group gathers while events stream in.
const LINGER: Duration = Duration::from_millis(4);
/// Attempts, one a second, before a stopping daemon gives up on a failing store.
const FINISH_RETRIES: u32 = 5;

/// Runs once what it came with is committed.
pub type OnCommit = Box<dyn FnOnce() + Send>;

/// Runs after every commit.
pub type Committed = Box<dyn Fn() + Send>;

enum Msg {
    Events(Vec<Event>),
    Output(Box<(Event, Attachment)>, OnCommit),
    /// One event whose callback runs once it is committed (not held by the stamping stage).
    EventThen(Box<Event>, OnCommit),
    /// A watcher looked at its clients' key times ([`Sink::looked`]).
    Looked(String, Timestamp),
    /// Seal the chain once what came before is committed.
    Seal,
    Finish,
}

/// A record waiting to be committed.
struct Entry {
    event: Event,
    attachment: Option<Attachment>,
    on_commit: Option<OnCommit>,
}

/// What the writer holds between commits, in order, and whether a seal is due after it;
/// events pass the stamping stage on their way in.
struct Backlog {
    entries: std::collections::VecDeque<Entry>,
    seal_due: bool,
    stage: Attributing,
}

/// Where stamped events go: the end of the backlog.
struct Ready<'a>(&'a mut std::collections::VecDeque<Entry>);

impl Extend<Event> for Ready<'_> {
    fn extend<I: IntoIterator<Item = Event>>(&mut self, events: I) {
        self.0.extend(events.into_iter().map(|event| Entry {
            event,
            attachment: None,
            on_commit: None,
        }));
    }
}

impl Backlog {
    /// Takes a message; false for [`Msg::Finish`] (then nothing is held back any more).
    fn add(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Events(events) => {
                for event in events {
                    self.stage.admit(event, &mut Ready(&mut self.entries));
                }
            }
            Msg::Looked(server, at) => {
                self.stage
                    .looked(&server, at, &mut Ready(&mut self.entries))
            }
            Msg::Output(record, f) => {
                let (event, attachment) = *record;
                self.entries.push_back(Entry {
                    event,
                    attachment: Some(attachment),
                    on_commit: Some(f),
                });
            }
            Msg::EventThen(event, f) => self.entries.push_back(Entry {
                event: *event,
                attachment: None,
                on_commit: Some(f),
            }),
            Msg::Seal => self.seal_due = true,
            Msg::Finish => {
                self.stage.release_all(&mut Ready(&mut self.entries));
                return false;
            }
        }
        true
    }

    /// Acts that waited long enough go in without their look.
    fn expire(&mut self) {
        self.stage
            .release(std::time::Instant::now(), &mut Ready(&mut self.entries));
    }

    /// Commits up to `n` records from the front in one transaction; on success they leave the
    /// backlog and their callbacks run.
    fn commit(&mut self, store: &mut dyn EventStore, n: usize) -> Result<usize, StoreError> {
        let n = n.min(self.entries.len());
        let records: Vec<(Event, Option<Attachment>)> = self
            .entries
            .iter()
            .take(n)
            .map(|e| (e.event.clone(), e.attachment.clone()))
            .collect();
        store.append_attached(&records)?;
        for entry in self.entries.drain(..n) {
            if let Some(f) = entry.on_commit {
                f();
            }
        }
        Ok(n)
    }
}

/// A handle for sending events to the writer.
#[derive(Clone)]
pub struct ChannelSink(SyncSender<Msg>);

impl ChannelSink {
    /// Sends a batch (waits while the channel is full).
    pub fn send_now(&self, events: Vec<Event>) {
        // Fails only after the writer has finished, when nothing more may be recorded.
        let _ = self.0.send(Msg::Events(events));
    }

    /// Asks for a seal after everything sent so far (no-op without sealing state).
    pub fn request_seal(&self) -> bool {
        self.0.send(Msg::Seal).is_ok()
    }

    /// Sends a `pane-output` event with its chunk; `on_commit` runs once both are stored.
    pub fn send_output(&self, event: Event, attachment: Attachment, on_commit: OnCommit) {
        let _ = self
            .0
            .send(Msg::Output(Box::new((event, attachment)), on_commit));
    }
}

impl ChannelSink {
    /// Sends one event; `on_commit` runs once it (and so everything sent before it) is stored.
    pub fn send_then(&self, event: Event, on_commit: OnCommit) {
        let _ = self.0.send(Msg::EventThen(Box::new(event), on_commit));
    }
}

impl Sink for ChannelSink {
    fn send(&self, events: Vec<Event>) {
        self.send_now(events);
    }

    fn looked(&self, server: &str, at: Timestamp) {
        let _ = self.0.send(Msg::Looked(server.to_owned(), at));
    }
}

/// The writer thread.
pub struct Writer {
    sink: Option<ChannelSink>,
    healthy: Arc<AtomicBool>,
    thread: JoinHandle<Result<(), StoreError>>,
}

impl Writer {
    /// Starts the writer thread, which owns `store` (and seals it with `sealer`), stamping
    /// acts with who did them through `stage` and calling `committed` after each commit (the
    /// forwarder waits on it).
    pub fn start(
        store: Box<dyn EventStore>,
        sealer: Option<Sealer>,
        stage: Attributing,
        committed: Committed,
    ) -> Self {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_BATCHES);
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&healthy);
        let thread = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || write_loop(store, sealer, stage, committed, rx, &flag))
            .expect("spawn writer thread");
        Writer {
            sink: Some(ChannelSink(tx)),
            healthy,
            thread,
        }
    }

    /// False while the store refuses writes (disk full): bulk producers wait.
    pub fn healthy(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.healthy)
    }

    /// A sender.
    pub fn sink(&self) -> ChannelSink {
        self.sink.clone().expect("writer running")
    }

    /// Waits until everything sent so far is committed, then ends the writer. Anything sent
    /// later is discarded: callers stop their sources first.
    pub fn finish(mut self) -> Result<(), StoreError> {
        if let Some(sink) = self.sink.take() {
            let _ = sink.0.send(Msg::Finish);
        }
        self.thread.join().unwrap_or(Ok(()))
    }
}

fn write_loop(
    mut store: Box<dyn EventStore>,
    mut sealer: Option<Sealer>,
    stage: Attributing,
    committed: Committed,
    rx: Receiver<Msg>,
    healthy: &AtomicBool,
) -> Result<(), StoreError> {
    let mut backlog = Backlog {
        entries: Default::default(),
        seal_due: false,
        stage,
    };
    let mut finishing = false;
    // Failed attempts in the current outage, and records committed since it began.
    let mut failures = 0u32;
    let mut recovered = 0usize;
    let mut last_commit: Option<std::time::Instant> = None;
    loop {
        if backlog.entries.is_empty() {
            // Seal when asked, and last of all when stopping.
            if backlog.seal_due || finishing {
                if let Some(s) = &mut sealer {
                    // A failed seal is retried at the next request; the events stand.
                    if let Err(e) = s.tick(store.as_mut()) {
                        tracing::error!("cannot seal the chain: {e}");
                    }
                }
                backlog.seal_due = false;
            }
            if finishing {
                return Ok(());
            }
            // Held acts are let go when their look comes, or when they have waited enough.
            let msg = match backlog.stage.next_deadline() {
                None => rx.recv().map_err(|_| ()),
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(std::time::Instant::now());
                    match rx.recv_timeout(wait) {
                        Ok(msg) => Ok(msg),
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            backlog.expire();
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => Err(()),
                    }
                }
            };
            match msg {
                Ok(msg) => finishing |= !backlog.add(msg),
                // Every sender is gone: what is held goes in, then the writer ends.
                Err(()) => finishing |= !backlog.add(Msg::Finish),
            }
            if backlog.entries.is_empty() {
                continue;
            }
        }
        // Not while recovering from a failing store: the backlog goes in as fast as it can.
        let streaming =
            !finishing && failures == 0 && last_commit.is_some_and(|t| t.elapsed() < BUSY);
        let gathered_until =
            std::time::Instant::now() + if streaming { LINGER } else { Duration::ZERO };
        while backlog.entries.len() < GROUP_MAX && !finishing {
            let left = gathered_until.saturating_duration_since(std::time::Instant::now());
            // Nothing more by the end of the linger (or the senders are gone): commit.
            let msg = if left.is_zero() {
                rx.try_recv().ok()
            } else {
                rx.recv_timeout(left).ok()
            };
            match msg {
                Some(msg) => finishing |= !backlog.add(msg),
                None => break,
            }
        }
        if backlog
            .stage
            .next_deadline()
            .is_some_and(|d| d <= std::time::Instant::now())
        {
            backlog.expire();
        }
        let group = if failures > 0 { 1 } else { GROUP_MAX };
        let result = backlog.commit(store.as_mut(), group);
        if result.is_ok() {
            committed();
            last_commit = Some(std::time::Instant::now());
        }
        match result {
            Ok(n) if failures > 0 => {
                recovered += n;
                if backlog.entries.is_empty() {
                    tracing::warn!("store writable again; {recovered} held events committed");
                    healthy.store(true, Ordering::Relaxed);
                    failures = 0;
                    recovered = 0;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if failures == 0 {
                    tracing::error!(
                        "cannot commit {} events, holding them and retrying: {e}",
                        backlog.entries.len()
                    );
                    healthy.store(false, Ordering::Relaxed);
                }
                failures += 1;
                if finishing && failures >= FINISH_RETRIES {
                    tracing::error!(
                        "stopping with {} events that could not be committed: {e}",
                        backlog.entries.len()
                    );
                    return Err(e);
                }
                std::thread::sleep(Duration::from_secs(1));
                // Keep taking what sources send (they must not block forever) and notice a
                // stop request while the store is down.
                while let Ok(msg) = rx.try_recv() {
                    finishing |= !backlog.add(msg);
                }
            }
        }
    }
}
