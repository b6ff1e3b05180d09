//! Store work off the async threads: a few plain threads, each owning at most one intake,
//! take jobs from one queue. An intake is opened, used and dropped only on its own thread —
//! never on a runtime thread (the synchronous `postgres` client runs a runtime of its own,
//! which cannot start or stop inside another). An intake whose call failed (or panicked) is
//! dropped rather than kept (its connection may be dead: PostgreSQL restarted), and the next
//! job opens a fresh one, so the collector recovers by itself when the store is back.

use crate::OpenIntake;
use audit_store::central::Intake;
use audit_store::StoreError;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut Option<Box<dyn Intake>>, &OpenIntake) + Send>;

pub(crate) struct Intakes {
    jobs: mpsc::Sender<Job>,
}

/// Why a job did not run to an answer.
#[derive(Debug)]
pub(crate) enum JobError {
    /// The store failed (or could not be reached).
    Store(StoreError),
    /// The job panicked, or the threads are gone.
    Lost,
}

impl Intakes {
    /// Starts `threads` store threads; they end when this is dropped and their job is done.
    pub(crate) fn start(open: OpenIntake, threads: usize) -> std::io::Result<Intakes> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let open = Arc::new(open);
        for _ in 0..threads.max(1) {
            let (queue, open) = (queue.clone(), open.clone());
            std::thread::Builder::new()
                .name("audit-collector-store".into())
                .spawn(move || {
                    let mut intake = None;
                    loop {
                        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = job else { return };
                        let ran = catch_unwind(AssertUnwindSafe(|| job(&mut intake, &open)));
                        if ran.is_err() {
                            tracing::error!("a store job panicked; its connection is dropped");
                            intake = None;
                        }
                    }
                })?;
        }
        Ok(Intakes { jobs })
    }

    /// Runs `job` with an intake on a store thread.
    pub(crate) async fn run<T, F>(&self, job: F) -> Result<T, JobError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Intake) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |slot, open| {
            let result = match slot {
                Some(intake) => job(intake.as_mut()),
                None => open().and_then(|mut intake| {
                    let result = job(intake.as_mut());
                    *slot = Some(intake);
                    result
                }),
            };
            if result.is_err() {
                *slot = None;
            }
            let _ = tx.send(result);
        });
        self.jobs.send(job).map_err(|_| JobError::Lost)?;
        match rx.await {
            Ok(result) => result.map_err(JobError::Store),
            Err(_) => Err(JobError::Lost),
        }
    }
}
