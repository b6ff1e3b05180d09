//! Forwarding: sends stored events on to the tools security teams read — a JSON-lines file,
//! syslog (RFC 5424 over TCP, UDP or a unix socket) or a webhook — at least once and in order.
//!
//! A forwarder is a view: it only reads the store, so a dead sink can never slow recording.
//! Each configured sink ([`SinkSpec`], the `[[sink]]` tables of the daemon's config) runs on its
//! own thread with its own store connection and cursor (`SinkCursors::sink_cursor`):
//!
//! ```text
//! store ──scan_after(cursor)──▶ kinds filter ──▶ encode (pure) ──▶ deliver (I/O) ──ack──▶ save cursor
//! ```
//!
//! The cursor moves only after the receiver accepted the batch (file fsynced, HTTP 2xx, bytes
//! written to the syslog socket), so a crash in between sends events again: at-least-once. Every
//! forwarded event carries its `seq`, so receivers can drop duplicates and see gaps. A new sink
//! starts from the first stored event: history reaches the receiver too.
//!
//! A failing sink retries with capped exponential backoff and reports each outage once through
//! the caller's `report` callback (`sink-failed`, then `sink-recovered`), which the daemon
//! records — and thus forwards — like any other event.
//!
//! * [`config`] — [`SinkSpec`], parsed and checked while the config file is deserialized.
//! * `encode` — the byte forms (JSON line, RFC 5424 message); no I/O.
//! * `deliver` — writing them to a file, socket or HTTP endpoint.
//! * `worker`, `outage` — one sink's loop, its backoff and its reports.
//! * `ship` — the collector sink's own loop: every record with its chunk, positioned by the
//!   collector's acknowledgement (`GET /v1/head`), not by the local cursor alone.
//! * [`Forwarder`] — starting, waking and stopping the sinks.
#![deny(missing_docs)]

pub mod config;
mod deliver;
mod encode;
mod error;
mod forwarder;
mod outage;
mod shared;
mod ship;
mod worker;

pub use config::{CollectorUrl, Facility, SinkKind, SinkSpec, SyslogAddress, WebhookUrl};
pub use encode::{jsonl_line, SyslogFormat};
pub use error::{ForwardError, SetupError};
pub use forwarder::{Forwarder, Waker};
pub use shared::{Lag, Report, SinkStatus};
