//! Starting, waking and stopping the sinks: one thread and one store connection per sink.

use crate::config::SinkSpec;
use crate::deliver;
use crate::error::ForwardError;
use crate::shared::{Report, Shared, SinkStatus};
use crate::ship::{self, Shipper};
use crate::worker::Worker;
use audit_store::{Access, EventStore, Location};
use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// Tells the sinks that new events were committed, so they need not wait for their poll.
/// Cheap to clone; `wake` never blocks on a sink.
#[derive(Clone)]
pub struct Waker(Arc<Shared>);

impl Waker {
    /// Call after each commit to the store.
    pub fn wake(&self) {
        self.0.wake();
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
                lag: None,
                failing_since: None,
                last_error: None,
            }));
            let run: Box<dyn FnOnce() + Send> = match ship::client_for(&spec)? {
                Some(client) => {
                    let shipper = Shipper {
                        name: name.clone(),
                        client,
                        store,
                        cursor,
                        host: host.clone(),
                        report: report.clone(),
                        shared: forwarder.shared.clone(),
                        status: status.clone(),
                    };
                    Box::new(move || shipper.run())
                }
                None => {
                    let worker = Worker {
                        deliver: deliver::for_spec(&spec).expect("not a collector sink"),
                        spec,
                        store,
                        cursor,
                        host: host.clone(),
                        report: report.clone(),
                        shared: forwarder.shared.clone(),
                        status: status.clone(),
                    };
                    Box::new(move || worker.run())
                }
            };
            let done_tx = done_tx.clone();
            let thread = std::thread::Builder::new()
                .name("audit-forward".into())
                .spawn(move || {
                    // Sent even if the worker panics, so `stop` does not wait for it in vain.
                    let _done = SendOnDrop(done_tx, index);
                    run();
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
