//! The collector's start: on `audit_http::start`'s runtime and thread of its own, its accept
//! loop `audit_http::serve` (the connection limit, TLS, HTTP/1.1 with its
//! header timeout) answering through `route::handle`.

use crate::config::Config;
use crate::error::CollectorError;
use crate::intakes::Intakes;
use crate::route::{self, State};
use crate::OpenIntake;
use audit_http::Running;
pub use audit_http::Stopper;
use audit_store::central::Intake;
use audit_store::StoreError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long requests in flight may take to finish at a stop, and the runtime waits for store
/// jobs still running then.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A running collector (stop it with [`Running::stopper`], or by dropping it; requests in
/// flight get 2 s to finish, then are cut off: a host resumes from the acknowledgement, so
/// nothing is lost or stored twice).
pub type Collector = Running;

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
    let handler = move |peer, req| route::handle(state.clone(), peer, req);
    let running = audit_http::start("audit-collector", 2, 512, listener, tls, options, handler)
        .map_err(CollectorError::Runtime)?;
    tracing::info!(%addr, "collector listening");
    Ok(running)
}
