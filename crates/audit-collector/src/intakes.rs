//! Store work off the async threads: each job runs on a blocking thread with an intake from a
//! small pool. An intake whose call failed is dropped rather than returned (its connection may
//! be dead: PostgreSQL restarted), and the next job opens a fresh one, so the collector
//! recovers by itself when the store is back.

use crate::OpenIntake;
use audit_store::central::Intake;
use audit_store::StoreError;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

pub(crate) struct Intakes {
    open: OpenIntake,
    idle: Mutex<Vec<Box<dyn Intake>>>,
    busy: Semaphore,
}

/// Why a job did not run to an answer.
#[derive(Debug)]
pub(crate) enum JobError {
    /// The store failed (or could not be reached).
    Store(StoreError),
    /// The job's thread panicked or was cancelled.
    Lost,
}

impl Intakes {
    pub(crate) fn new(open: OpenIntake, connections: usize) -> Arc<Intakes> {
        Arc::new(Intakes {
            open,
            idle: Mutex::new(Vec::new()),
            busy: Semaphore::new(connections.max(1)),
        })
    }

    /// Runs `job` with an intake, on a blocking thread, at most `connections` at once.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, job: F) -> Result<T, JobError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Intake) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self.busy.acquire().await.map_err(|_| JobError::Lost)?;
        let this = self.clone();
        let ran = tokio::task::spawn_blocking(move || {
            let taken = this.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut intake = match taken {
                Some(intake) => intake,
                None => (this.open)()?,
            };
            let result = job(intake.as_mut());
            if result.is_ok() {
                this.idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(intake);
            }
            result
        })
        .await;
        match ran {
            Ok(result) => result.map_err(JobError::Store),
            Err(_) => Err(JobError::Lost),
        }
    }
}
