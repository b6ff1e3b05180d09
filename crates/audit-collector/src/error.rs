//! Why the collector could not start.

use std::net::SocketAddr;
use thiserror::Error;

/// The collector could not start.
#[derive(Debug, Error)]
pub enum CollectorError {
    /// Plaintext on an address other machines reach, without `allow_plaintext`.
    #[error("refusing plaintext HTTP on {0}: hosts would send their tokens and records unencrypted (pass --tls-cert and --tls-key, listen on a loopback address, or pass --allow-plaintext behind a TLS proxy)")]
    Plaintext(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The TLS files could not be read, or hold no usable certificate and key.
    #[error(transparent)]
    Tls(#[from] audit_http::TlsError),
    /// The runtime or its thread could not be started.
    #[error("cannot start the collector's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
