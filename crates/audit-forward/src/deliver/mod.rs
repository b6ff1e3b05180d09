//! Delivery: writing encoded events to a file, a syslog socket or a webhook.
//!
//! A [`Deliver`] takes a batch event by event (`send`) and then makes it stick (`flush`: fsync,
//! socket write, or nothing when each send was already acknowledged). The worker moves the
//! cursor only after `flush` succeeds. Connections are made lazily and dropped after a
//! failure, so the next attempt reconnects; nothing here retries or sleeps (the worker does).

mod file;
mod syslog;
mod webhook;

use crate::config::{SinkKind, SinkSpec};
use crate::error::DeliverError;
use audit_core::Stored;

/// One sink's way of delivering events.
pub(crate) trait Deliver: Send {
    /// Sends (or queues, for `flush`) one event.
    fn send(&mut self, stored: &Stored) -> Result<(), DeliverError>;

    /// Makes everything sent since the last flush delivered. After an error, whatever was
    /// queued is dropped: the worker sends the batch again from its cursor.
    fn flush(&mut self) -> Result<(), DeliverError>;

    /// Whether a successful `send` alone means the receiver has the event (a webhook's 2xx),
    /// so that the cursor may move past it even if a later event of the batch fails.
    fn acknowledges_each(&self) -> bool {
        false
    }
}

/// The delivery for `spec`; connects nothing yet. `None` for a collector sink, which runs a
/// loop of its own (`crate::ship`).
pub(crate) fn for_spec(spec: &SinkSpec) -> Option<Box<dyn Deliver>> {
    Some(match &spec.kind {
        SinkKind::Collector { .. } => return None,
        SinkKind::Jsonl { path } => Box::new(file::JsonlFile::new(path.clone())),
        SinkKind::Syslog {
            address,
            facility,
            app_name,
        } => Box::new(syslog::Syslog::new(address.clone(), *facility, app_name)),
        SinkKind::Webhook {
            url,
            headers,
            timeout,
        } => Box::new(webhook::Webhook::new(url, headers.clone(), *timeout)),
    })
}
