//! The read side of tmux-audit as a library: queries over a store in, typed rows out.
//!
//! ```text
//! audit-store (Reader: events by Filter, chunks, full-text candidates, head)
//!        │
//!        ▼
//! audit-views:  recording ── find a pane's chunks, load and check them
//!               encode ───── asciicast / txt / raw, one Encoder shape, no I/O
//!               search ───── candidates → confirmation in each chunk (hits) → who was there
//!               proof ────── a piece's proof written from the store, checked without it
//!               presence ─── who had a client attached where, and when
//!               access ───── a view recorded as `audit-access` (by the daemon, else itself)
//!               acts ─────── commands, command lines and tmux commands as text and place
//!               commands ─── the acts' timeline: each attributed as of when it started
//!               live ─────── a pane followed in its spools, before the daemon commits it
//!               compare ──── a host's store against its central copy: same history?
//!               overview ─── a session whole (lanes, panes, gaps); a pane's marks
//!               watch ────── a pane's screen now, as text, kept up to date live
//!               hosts ────── a location opened as its hosts' stores, one fold each
//!               sessions ─── each session's life as a row, folded incrementally; a page
//!               who ──────── who was attached at a moment, with the record's caveats
//!               log ──────── the events a log query admits, a page at a time
//!               verify ───── a store's chain, seals and tail checked, as one report
//!               show ─────── times, durations and recorded text made safe for people
//!               when ─────── times as people write them (RFC 3339, a local time, an age)
//!        │
//!        ▼
//! front ends: the `tmux-audit` CLI (arguments → query → print); a web UI next
//! ```
//!
//! Nothing here parses arguments, prints or serves HTTP: a front end builds a query, calls in,
//! and renders the rows. Each module has its own typed error. Every view reads through
//! [`audit_store::Reader`], so it works on any backend.
#![deny(missing_docs)]

pub mod access;
pub mod acts;
pub mod commands;
pub mod compare;
pub mod encode;
pub mod hits;
pub mod hosts;
pub mod live;
pub mod log;
pub mod overview;
pub mod presence;
pub mod proof;
pub mod recording;
pub mod search;
pub mod sessions;
pub mod show;
#[cfg(test)]
mod testing;
pub mod verify;
pub mod watch;
pub mod when;
pub mod who;
