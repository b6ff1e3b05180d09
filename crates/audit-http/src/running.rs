//! A server on a runtime and thread of its own, so that callers stay synchronous: started,
//! asked where it listens, stopped from anywhere, waited for.

use crate::serve::{serve, Options};
use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::watch;
use tokio_rustls::rustls::ServerConfig;

/// A running server. Dropping it stops it and waits for its thread.
pub struct Running {
    addr: SocketAddr,
    stopper: Stopper,
    thread: Option<JoinHandle<()>>,
}

/// Stops a [`Running`] server from anywhere (a signal handler's thread, a test). Cheap to
/// clone.
#[derive(Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    /// Stops accepting and closes every connection; requests in flight get the grace period of
    /// its [`Options`] to finish, then are cut off.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// Serves `listener` ([`serve`]) on a new multi-threaded runtime (`workers` threads and at
/// most `blocking` blocking ones, all named `name`) on a thread of its own.
pub fn start<H, F, B>(
    name: &str,
    workers: usize,
    blocking: usize,
    listener: std::net::TcpListener,
    tls: Option<Arc<ServerConfig>>,
    options: Options,
    handler: H,
) -> std::io::Result<Running>
where
    H: Fn(SocketAddr, Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .max_blocking_threads(blocking.max(1))
        .thread_name(name)
        .enable_io()
        .enable_time()
        .build()?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let stopped = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
    };
    let grace = options.grace;
    let label = name.to_owned();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let served = runtime.block_on(serve(listener, tls, options, handler, stopped));
            if let Err(error) = served {
                tracing::error!("{label} stopped: cannot accept on {addr}: {error}");
            }
            runtime.shutdown_timeout(grace);
        })?;
    Ok(Running {
        addr,
        stopper: Stopper(Arc::new(stop_tx)),
        thread: Some(thread),
    })
}

impl Running {
    /// Where it listens (the port chosen when it was bound to port 0).
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

impl Drop for Running {
    fn drop(&mut self) {
        self.stopper.stop();
        self.join();
    }
}
