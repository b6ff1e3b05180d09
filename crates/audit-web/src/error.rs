//! Why the web UI did not start.

use std::net::SocketAddr;

/// Why the web UI did not start. Once it runs, a request's failure is that request's answer.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Plain HTTP asked on an address others can reach.
    #[error("refusing to serve plain HTTP on {0}, which is not a loopback address: give --tls-cert and --tls-key, or --allow-plaintext behind a TLS-terminating proxy")]
    Plaintext(SocketAddr),
    /// The TLS files are not usable.
    #[error(transparent)]
    Tls(#[from] audit_http::TlsError),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The auditors' group does not exist: nobody could log in.
    #[error("the group {0:?} does not exist: create it (groupadd {0}) and add the auditors to it, or name another with --auditors-group")]
    NoGroup(String),
    /// Linux-PAM cannot be used.
    #[error(transparent)]
    Pam(#[from] crate::auth::pam::PamError),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] audit_views::hosts::HostsError),
    /// The runtime or its thread could not start.
    #[error("cannot start the web UI's runtime: {0}")]
    Runtime(std::io::Error),
}
