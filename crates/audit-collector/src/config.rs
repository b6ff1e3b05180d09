//! What `tmux-audit collector` is told: where to listen, with which certificate, within which
//! bounds.

use std::net::SocketAddr;
use std::time::Duration;

/// How the collector runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen (port 0: any free port, see [`crate::Collector::local_addr`]).
    pub listen: SocketAddr,
    /// TLS certificate and key; `None`: plaintext HTTP, allowed only on a loopback address
    /// unless `allow_plaintext`.
    pub tls: Option<TlsFiles>,
    /// Serve plaintext HTTP on a non-loopback address (behind a TLS-terminating proxy).
    pub allow_plaintext: bool,
    /// Bounds against slow or hostile clients.
    pub limits: Limits,
}

pub use audit_http::TlsFiles;

/// Bounds on what clients may cost. The defaults suit a fleet; tests shorten the times.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time for a TLS handshake, and for each request's headers (also how long an idle
    /// keep-alive connection stays open).
    pub header_timeout: Duration,
    /// Time for a whole request body.
    pub body_timeout: Duration,
    /// Request bodies held in memory at once (each at most `audit_ship::batch::MAX_BODY`);
    /// others wait for one to finish, within their body timeout.
    pub max_bodies: usize,
    /// Store connections, each on a thread of its own.
    pub store_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_bodies: 8,
            store_connections: 4,
        }
    }
}

impl Config {
    /// Listening on `listen` with default limits, plaintext (loopback only) unless `tls`.
    pub fn new(listen: SocketAddr, tls: Option<TlsFiles>) -> Config {
        Config {
            listen,
            tls,
            allow_plaintext: false,
            limits: Limits::default(),
        }
    }
}
