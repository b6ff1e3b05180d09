//! The runtime the collector runs on (its own, on its own thread, so callers stay synchronous),
//! and its accept loop: `audit_http::serve` (the connection limit, TLS, HTTP/1.1 with its
//! header timeout) answering through `route::handle`.

use crate::config::Config;
use crate::error::CollectorError;
use crate::intakes::Intakes;
use crate::route::{self, State};
use crate::OpenIntake;
use audit_store::central::Intake;
use audit_store::StoreError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// How long requests in flight may take to finish at a stop, and the runtime waits for store
/// jobs still running then.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A running collector. Dropping it stops it.
pub struct Collector {
    addr: SocketAddr,
    stopper: Stopper,
    thread: Option<JoinHandle<()>>,
}

/// Stops a collector from anywhere (a signal handler's thread, a test). Cheap to clone.
#[derive(Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    /// Stops accepting and closes every connection; requests in flight get 2 s to finish, then
    /// are cut off (a host resumes from the acknowledgement, so nothing is lost or stored twice).
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// Starts the collector: checks the TLS files, binds `config.listen` and serves on a thread of
/// its own. `open_intake` opens a connection to the central store; it is called when a request
/// needs one and none is idle (at most `limits.store_connections` at once), again after one
/// failed.
pub fn serve<F>(config: Config, open_intake: F) -> Result<Collector, CollectorError>
where
    F: Fn() -> Result<Box<dyn Intake>, StoreError> + Send + Sync + 'static,
{
    let tls = match &config.tls {
        Some(files) => Some(audit_http::tls::server_config(files)?),
        None if audit_http::plaintext_allowed(config.listen, config.allow_plaintext) => None,
        None => return Err(CollectorError::Plaintext(config.listen)),
    };
    let bind = |error| CollectorError::Bind {
        addr: config.listen,
        error,
    };
    let listener = audit_http::bind(config.listen).map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    let limits = config.limits.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("audit-collector")
        .enable_io()
        .enable_time()
        .build()
        .map_err(CollectorError::Runtime)?;
    let open: OpenIntake = Box::new(open_intake);
    let state = Arc::new(State {
        intakes: Intakes::start(open, limits.store_connections).map_err(CollectorError::Runtime)?,
        bodies: Semaphore::new(limits.max_bodies.max(1)),
        limits,
    });
    let options = audit_http::Options {
        max_connections: state.limits.max_connections,
        header_timeout: state.limits.header_timeout,
        grace: STOP_GRACE,
        ..audit_http::Options::default()
    };
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let handler = move |peer, req| route::handle(state.clone(), peer, req);
    let stopped = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
    };
    let thread = std::thread::Builder::new()
        .name("audit-collector".into())
        .spawn(move || {
            let served =
                runtime.block_on(audit_http::serve(listener, tls, options, handler, stopped));
            if let Err(error) = served {
                tracing::error!("the collector stopped: cannot accept on {addr}: {error}");
            }
            runtime.shutdown_timeout(STOP_GRACE);
        })
        .map_err(CollectorError::Runtime)?;
    tracing::info!(%addr, "collector listening");
    Ok(Collector {
        addr,
        stopper: Stopper(Arc::new(stop_tx)),
        thread: Some(thread),
    })
}

impl Collector {
    /// Where it listens (the port chosen when `listen` said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops it.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Stops it and waits until its connections are closed.
    pub fn stop(mut self) {
        self.stopper.stop();
        self.join();
    }

    /// Waits until a [`Stopper`] stops it.
    pub fn wait(mut self) {
        self.join();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stopper.stop();
        self.join();
    }
}
