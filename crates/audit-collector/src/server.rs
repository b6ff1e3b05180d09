//! Accepting connections: the connection limit, TLS, HTTP/1.1 with its header timeout, and the
//! runtime the collector runs on (its own, on its own thread, so callers stay synchronous).

use crate::config::{Config, Limits};
use crate::error::CollectorError;
use crate::intakes::Intakes;
use crate::route::{self, State};
use crate::OpenIntake;
use audit_store::central::Intake;
use audit_store::StoreError;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

/// Largest buffer of request headers per connection.
const MAX_HEADER_BUF: usize = 64 * 1024;
/// How long the runtime waits for store jobs still running at a stop.
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
    /// Stops accepting and closes every connection; requests in flight are cut off (a host
    /// resumes from the acknowledgement, so nothing is lost or stored twice).
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
        Some(files) => Some(TlsAcceptor::from(crate::tls::server_config(files)?)),
        None if config.listen.ip().is_loopback() || config.allow_plaintext => None,
        None => return Err(CollectorError::Plaintext(config.listen)),
    };
    let bind = |error| CollectorError::Bind {
        addr: config.listen,
        error,
    };
    let listener = std::net::TcpListener::bind(config.listen).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
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
    let (stop_tx, stop_rx) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("audit-collector".into())
        .spawn(move || {
            let served = runtime.block_on(accept_loop(listener, tls, state, stop_rx));
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

async fn accept_loop(
    listener: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let connections = Arc::new(Semaphore::new(state.limits.max_connections.max(1)));
    let mut last_full_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("cannot accept a connection: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            if last_full_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                last_full_warning = Some(Instant::now());
                tracing::warn!(%peer, "closing new connections: {} are open already", state.limits.max_connections);
            }
            drop(stream);
            continue;
        };
        tokio::spawn(connection(stream, peer, tls.clone(), state.clone(), permit));
    }
}

/// One connection's life; the permit is held until it closes.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let limits: &Limits = &state.limits;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BUF);
    let service = {
        let state = state.clone();
        service_fn(move |req| route::handle(state.clone(), peer, req))
    };
    let served = match tls {
        Some(acceptor) => {
            match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => http.serve_connection(TokioIo::new(stream), service).await,
                Ok(Err(error)) => {
                    tracing::info!(%peer, "TLS handshake failed: {error}");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake not done within {:?}", limits.header_timeout);
                    return;
                }
            }
        }
        None => http.serve_connection(TokioIo::new(stream), service).await,
    };
    if let Err(error) = served {
        tracing::info!(%peer, "connection closed: {error}");
    }
}
