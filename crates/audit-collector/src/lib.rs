//! The central collector: each host's forwarder ships its records here (the protocol is
//! `audit_ship`), and the collector files them, through an [`Intake`], into that host's own
//! chain of the fleet's store.
//!
//! ```text
//! TCP ─▶ connection limit ─▶ TLS (handshake ≤ header timeout) ─▶ HTTP/1.1 (headers ≤ header timeout)
//!     ─▶ token → host (Intake::host_of_token) ─▶ body (≤ 32 MiB, ≤ body timeout) ─▶ decode
//!     ─▶ render each chunk's text ─▶ Intake::accept(host, batch, text, now, peer) ─▶ JSON verdict
//! ```
//!
//! The host is only ever the one the bearer token names: a host can write its own chain and
//! nothing else. Store work is synchronous: it runs on a few plain threads, each owning the
//! intake `open_intake` made for it (never opened or dropped on a runtime thread: the
//! synchronous `postgres` client has a runtime of its own); an intake whose call failed is
//! dropped, so a restarted database is reconnected by the next request, and meanwhile
//! requests are answered 503. Hostile clients are bounded: connections (more are closed at once),
//! header and body time, body size (enforced while reading), bodies held in memory at once.
//!
//! * [`Config`], [`Limits`] — where to listen, TLS files, the bounds.
//! * [`serve`] → [`Collector`] — the running server (`local_addr`, `stop`, `wait`).
//! * `server` (the runtime, and the accept loop of `audit_http`: connection limit, TLS,
//!   HTTP/1.1), `route` (the two endpoints), `body`, `intakes` (the store threads), `render`
//!   (chunk text).
#![deny(missing_docs)]

mod config;
mod error;
mod intakes;
mod render;
mod route;
mod server;

pub use config::{Config, Limits, TlsFiles};
pub use error::CollectorError;
pub use server::{serve, Collector, Stopper};

/// Opens a connection to the central store; called again whenever one failed.
pub type OpenIntake = Box<
    dyn Fn() -> Result<Box<dyn audit_store::central::Intake>, audit_store::StoreError>
        + Send
        + Sync,
>;
