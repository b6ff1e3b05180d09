//! The runtime the web UI runs on (its own, on its own thread, so callers stay synchronous),
//! and its start: TLS and plaintext rules, the group and PAM checked, the store opened.

use crate::auth::{account, pam};
use crate::config::Config;
use crate::error::WebError;
use crate::route;
use crate::state::State;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// How long requests in flight may take to finish at a stop.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A running web UI. Dropping it stops it.
pub struct Web {
    addr: SocketAddr,
    stopper: Stopper,
    thread: Option<JoinHandle<()>>,
}

/// Stops a web UI from anywhere (a signal handler's thread, a test). Cheap to clone.
#[derive(Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    /// Stops accepting; requests in flight get 2 s to finish.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// Starts the web UI on a thread of its own: checks what would make every login fail (the
/// auditors' group, Linux-PAM) and the TLS files, opens the store and binds the address.
pub fn serve(config: Config) -> Result<Web, WebError> {
    let tls = match &config.tls {
        Some(files) => Some(audit_http::tls::server_config(files)?),
        None if audit_http::plaintext_allowed(config.listen, config.allow_plaintext) => None,
        None => return Err(WebError::Plaintext(config.listen)),
    };
    let gid = account::group(&config.auditors_group)
        .ok_or_else(|| WebError::NoGroup(config.auditors_group.clone()))?;
    pam::available()?;
    let bind = |error| WebError::Bind {
        addr: config.listen,
        error,
    };
    let listener = audit_http::bind(config.listen).map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    let state = Arc::new(State::new(config, gid, tls.is_some())?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .thread_name("audit-web")
        .enable_io()
        .enable_time()
        .build()
        .map_err(WebError::Runtime)?;
    let options = audit_http::Options {
        grace: STOP_GRACE,
        ..audit_http::Options::default()
    };
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let handler = move |peer, req| route::handle(state.clone(), peer, req);
    let stopped = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
    };
    let thread = std::thread::Builder::new()
        .name("audit-web".into())
        .spawn(move || {
            let served =
                runtime.block_on(audit_http::serve(listener, tls, options, handler, stopped));
            if let Err(error) = served {
                tracing::error!("the web UI stopped: cannot accept on {addr}: {error}");
            }
            runtime.shutdown_timeout(STOP_GRACE);
        })
        .map_err(WebError::Runtime)?;
    Ok(Web {
        addr,
        stopper: Stopper(Arc::new(stop_tx)),
        thread: Some(thread),
    })
}

impl Web {
    /// Where it listens (the port chosen when `listen` said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops it.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Waits until a [`Stopper`] stops it.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
