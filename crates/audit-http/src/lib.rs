//! The HTTP stack tmux-audit's servers share — the fleet's collector (`audit-collector`) and
//! the web UI (`audit-web`) — so that both accept, encrypt and bound connections the same way:
//!
//! ```text
//! TcpListener ─▶ connection limit ─▶ TLS handshake (≤ header timeout, optional)
//!     ─▶ hyper HTTP/1.1 (headers ≤ header timeout) ─▶ the caller's handler(peer, request)
//! shutdown future ─▶ stop accepting ─▶ each connection finishes its request in flight and
//!     closes (graceful), for at most the grace period; then whatever is left is cut off
//! ```
//!
//! * [`tls`]: a rustls [`ServerConfig`](tokio_rustls::rustls::ServerConfig) from PEM files
//!   ([`TlsFiles`]), or a [`TlsError`] naming the file and what is wrong with it.
//! * [`serve`]: the accept loop, with its bounds in [`Options`]. What a request means is the
//!   caller's handler; this crate knows nothing of routes, bodies or stores.
//! * [`start`]: [`serve`] on a runtime and thread of its own ([`Running`], [`Stopper`]).
//! * [`body`]: a request body read within a size limit and a timeout.
//! * [`plaintext_allowed`]: the rule both servers apply before serving without TLS.
#![deny(missing_docs)]

pub mod body;
mod running;
mod serve;
pub mod tls;

pub use running::{start, Running, Stopper};
pub use serve::{bind, serve, Options};
pub use tls::{TlsError, TlsFiles};

/// Whether plain HTTP may be served on `addr`: on a loopback address always, elsewhere only
/// when the operator said so (`--allow-plaintext`, behind a TLS-terminating proxy).
pub fn plaintext_allowed(addr: std::net::SocketAddr, allow_plaintext: bool) -> bool {
    addr.ip().is_loopback() || allow_plaintext
}
