//! The heart of tmux-audit: the event model, its frozen canonical encoding, the hash chain
//! that makes the log tamper-evident, and the folds that turn a log back into "who was where".
//!
//! Everything here is pure: no I/O, no threads, no tmux. Data flows through tmux-audit one way,
//!
//! ```text
//! sources (audit-tmux) ──Event──▶ daemon ──▶ chain (this crate) ──▶ store (audit-store) ──▶ views (CLI)
//! ```
//!
//! and every other crate depends on this one, never the reverse.
//!
//! * [`event`] — [`Event`] and [`Kind`]: what one stored record says.
//! * [`values`] — the closed sets of names some of its fields take ([`Reason`], [`Observed`],
//!   [`Severity`], [`ViolationKind`], [`Action`]), one table each.
//! * [`encoding`] — the canonical byte encoding that is stored and hashed (frozen, versioned).
//! * [`chain`] — linking each record's hash to the previous one.
//! * [`inspect`] — checking a stored log against the chain and naming what was changed,
//!   deleted, inserted or reordered.
//! * [`seal`] — forward-secure seals over the chain head, and checking them with the
//!   verification key.
//! * [`attribution`] — who could have done what was done in a session, and how sure that is.
//! * [`fold`] — replaying events into the state of the world at a moment (`who --at`) and into
//!   per-session summaries (`sessions`).
//! * [`time`] — microsecond UTC timestamps, as stored and as printed (RFC 3339).
#![deny(missing_docs)]

pub mod attribution;
pub mod chain;
pub mod encoding;
pub mod event;
pub mod fold;
#[doc(hidden)]
pub mod fuzzing;
pub mod inspect;
pub mod seal;
pub mod time;
pub mod values;

pub use chain::ChainHash;
pub use encoding::DecodeError;
pub use event::{
    Action, Bytes, Confidence, Event, Kind, Observed, Reason, Severity, Stored, ViolationKind,
};
pub use inspect::{ChunkPlace, Finding, InspectReport, Inspector};
pub use time::Timestamp;
