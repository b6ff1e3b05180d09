//! Starting, waking and stopping the sinks: one thread and one store connection per sink.

use crate::config::SinkSpec;
use crate::deliver;
use crate::error::ForwardError;
use crate::worker::Worker;
use audit_core::{Event, Timestamp};
use audit_store::{Access, EventStore, Location};
use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the forwarder hands the daemon its `sink-failed` / `sink-recovered` events to record.
/// Called from sink threads; it should not block for long.
pub type Report = Arc<dyn Fn(Event) + Send + Sync>;

/// How long [`Forwarder::stop`] lets sinks deliver what is already stored.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// How much longer it waits for a sink stuck inside one delivery (a connect or request
/// timeout) before leaving its thread behind.
const STOP_SLACK: Duration = Duration::from_secs(1);

/// The running sinks.
pub struct Forwarder {
    shared: Arc<Shared>,
    sinks: Vec<Running>,
    done: mpsc::Receiver<usize>,
}

struct Running {
    name: String,
    status: Arc<Mutex<SinkStatus>>,
    thread: Option<JoinHandle<()>>,
}

/// Where one sink stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkStatus {
    /// The sink's name (its cursor key).
    pub name: String,
    /// The last `seq` delivered (or passed over by its `kinds`); `0`: none yet.
    pub cursor: u64,
    /// When its current outage began, if it is failing.
    pub failing_since: Option<Timestamp>,
    /// The last delivery error of the current outage.
    pub last_error: Option<String>,
}

/// Tells the sinks that new events were committed, so they need not wait for their poll.
/// Cheap to clone; `wake` never blocks on a sink.
#[derive(Clone)]
pub struct Waker(Arc<Shared>);

impl Waker {
    /// Call after each commit to the store.
    pub fn wake(&self) {
        let mut state = self.0.lock();
        state.generation = state.generation.wrapping_add(1);
        self.0.changed.notify_all();
    }
}

impl Forwarder {
    /// Starts one thread per sink, each with its own connection to the store at `db`, sending
    /// from its saved cursor (a sink never seen before starts at the first stored event).
    /// `host` names this machine in the events given to `report`.
    pub fn start(
        db: Location,
        host: String,
        specs: Vec<SinkSpec>,
        report: Report,
    ) -> Result<Forwarder, ForwardError> {
        let mut names = HashSet::new();
        for spec in &specs {
            if !names.insert(spec.name.as_str()) {
                return Err(ForwardError::DuplicateName(spec.name.clone()));
            }
        }
        let (done_tx, done) = mpsc::channel();
        let mut forwarder = Forwarder {
            shared: Arc::new(Shared::default()),
            sinks: Vec::new(),
            done,
        };
        for (index, spec) in specs.into_iter().enumerate() {
            let name = spec.name.clone();
            let store_err = |error| ForwardError::Store {
                sink: name.clone(),
                error,
            };
            let store: Box<dyn EventStore> =
                audit_store::open(&db, Access::Create).map_err(store_err)?;
            let cursor = store.sink_cursor(&name).map_err(store_err)?.unwrap_or(0);
            let status = Arc::new(Mutex::new(SinkStatus {
                name: name.clone(),
                cursor,
                failing_since: None,
                last_error: None,
            }));
            let worker = Worker {
                deliver: deliver::for_spec(&spec),
                spec,
                store,
                cursor,
                host: host.clone(),
                report: report.clone(),
                shared: forwarder.shared.clone(),
                status: status.clone(),
            };
            let done_tx = done_tx.clone();
            let thread = std::thread::Builder::new()
                .name("audit-forward".into())
                .spawn(move || {
                    // Sent even if the worker panics, so `stop` does not wait for it in vain.
                    let _done = SendOnDrop(done_tx, index);
                    worker.run();
                })
                .map_err(|error| ForwardError::Thread {
                    sink: name.clone(),
                    error,
                })?;
            forwarder.sinks.push(Running {
                name,
                status,
                thread: Some(thread),
            });
        }
        Ok(forwarder)
    }

    /// A handle for the store's writer to call after each commit.
    pub fn waker(&self) -> Waker {
        Waker(self.shared.clone())
    }

    /// Where each sink stands, in configuration order.
    pub fn status(&self) -> Vec<SinkStatus> {
        self.sinks
            .iter()
            .map(|s| s.status.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Lets every sink deliver what is already stored — for at most about 2 s, so a dead sink
    /// cannot hold up the daemon's exit — then joins the threads. What a sink could not deliver
    /// stays after its cursor and is sent when the forwarder starts again.
    pub fn stop(mut self) {
        let deadline = Instant::now() + STOP_GRACE;
        self.shared.stop(deadline);
        let give_up = deadline + STOP_SLACK;
        let mut left = self.sinks.iter().filter(|s| s.thread.is_some()).count();
        while left > 0 {
            let wait = give_up.saturating_duration_since(Instant::now());
            match self.done.recv_timeout(wait) {
                Ok(index) => {
                    if let Some(thread) = self.sinks[index].thread.take() {
                        let _ = thread.join();
                    }
                    left -= 1;
                }
                Err(_) => break,
            }
        }
        for sink in self.sinks.iter().filter(|s| s.thread.is_some()) {
            tracing::warn!(
                sink = %sink.name,
                "sink still busy delivering at exit; what it had not delivered is sent after the next start"
            );
        }
    }
}

impl Drop for Forwarder {
    /// Dropped without `stop` (or half started): the threads end as soon as they can.
    fn drop(&mut self) {
        self.shared.stop(Instant::now());
    }
}

struct SendOnDrop(mpsc::Sender<usize>, usize);

impl Drop for SendOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
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

    fn stop(&self, deadline: Instant) {
        let mut state = self.lock();
        state.stop_at = Some(state.stop_at.map_or(deadline, |d| d.min(deadline)));
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
