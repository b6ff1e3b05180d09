//! Pane output capture, the cheap half of recording: what runs inside `pipe-pane`.
//!
//! tmux's `pipe-pane -O` writes a pane's raw output into a pipe and applies no backpressure:
//! whatever reads it must keep up, or tmux's memory grows. So the reader does as little as
//! possible — timestamp each read, append it to a spool file ([`spool`]), flush when the burst
//! pauses ([`copier`]) — and leaves compression, chaining and indexing to the daemon, off the
//! pane's critical path.
//!
//! Nothing here knows tmux or the store; `tmux-audit pane-pipe` is the thin binary edge.
#![deny(missing_docs)]

pub mod chunk;
pub mod copier;
#[doc(hidden)]
pub mod fuzzing;
pub mod marks;
pub mod spool;
